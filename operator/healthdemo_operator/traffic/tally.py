"""The traffic client's counts in the status, exact across its Pod's restarts and replacements.
Pure.

The client keeps its own tally across its container's restarts (an emptyDir), so each reading is
a running total of that client Pod. The ledger keeps the last reading counted per client Pod;
only the difference is added to the status's totals, in the same write as the ledger: an
operator restart neither counts twice nor loses a count. A tally that went backwards (its
emptyDir lost) is counted from zero again, and said.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from healthdemo_operator.traffic.episodes import KINDS as KINDS_LOST
from healthdemo_operator.traffic.episodes import Episode

KINDS = ("ok", "5xx", "refused", "reset", "timeout", "other")


@dataclass(frozen=True)
class Reading:
    """What the client Pod `pod_uid` answered at GET /counts (`counts`), or why it could not."""

    pod_uid: str
    pod_name: str
    counts: Mapping[str, Any] | None
    error: str | None = None


@dataclass
class Seen:
    """The running totals of one client Pod last counted."""

    sent: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    by_pod: dict[str, int] = field(default_factory=dict)
    final: bool = False  # the client had stopped: nothing more to count from it

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Seen:
        return cls(
            int(raw.get("sent") or 0),
            {str(k): int(v) for k, v in (raw.get("answers") or {}).items()},
            {str(k): int(v) for k, v in (raw.get("byPod") or {}).items()},
            bool(raw.get("final")),
        )

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "sent": self.sent,
            "answers": dict(self.answers),
            "byPod": dict(self.by_pod),
        }
        if self.final:
            raw["final"] = True
        return raw


@dataclass
class Traffic:
    """`status.traffic`: every request the HealthDemo's client sent and how each ended."""

    rate_per_second: float = 0.0
    sent: int = 0
    answers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    by_pod: dict[str, int] = field(default_factory=dict)  # answered (ok or 5xx), by Pod
    client: str | None = None  # the client Pod
    error: str | None = None  # why its counts could not be read just now
    episodes: list[Episode] = field(default_factory=list)  # newest first
    # Requests lost by kind of episode (Restart, OutOfService, PodDeleted), each added once when
    # its loss is told: a running total that outlives the bounded history and episodes.
    lost_in: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS_LOST, 0))

    @property
    def lost(self) -> int:
        return self.sent - self.answers.get("ok", 0)

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None) -> Traffic | None:
        if not raw:
            return None
        answers = dict.fromkeys(KINDS, 0)
        answers.update({str(k): int(v) for k, v in (raw.get("answers") or {}).items()})
        return cls(
            float(raw.get("ratePerSecond") or 0.0),
            int(raw.get("sent") or 0),
            answers,
            {str(k): int(v) for k, v in (raw.get("byPod") or {}).items()},
            raw.get("client"),
            raw.get("error"),
            [Episode.load(e) for e in raw.get("episodes") or []],
            {
                **dict.fromkeys(KINDS_LOST, 0),
                **{str(k): int(v) for k, v in (raw.get("lostIn") or {}).items()},
            },
        )

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "ratePerSecond": self.rate_per_second,
            "sent": self.sent,
            "lost": self.lost,
            "answers": dict(self.answers),
            "byPod": dict(self.by_pod),
            "lostIn": dict(self.lost_in),
        }
        if self.client is not None:
            raw["client"] = self.client
        if self.error is not None:
            raw["error"] = self.error
        if self.episodes:
            raw["episodes"] = [e.dump() for e in self.episodes]
        return raw


def count(traffic: Traffic, seen: dict[str, Seen], reading: Reading) -> str | None:
    """Add what `reading` shows beyond what `seen` (the ledger's) counted; the ledger then
    holds the reading. Returns a gap to say when the client's tally went backwards."""
    traffic.client = reading.pod_name
    traffic.error = reading.error
    if reading.counts is None:
        return None
    now = Seen.of(reading.counts)
    before = seen.get(reading.pod_uid) or Seen()
    gap = None
    if now.sent < before.sent:
        gap = (
            f"the traffic client {reading.pod_name} started its tally over ({before.sent} → "
            f"{now.sent} sent): requests it sent in between are not counted"
        )
        before = Seen()
    traffic.sent += now.sent - before.sent
    for kind, n in now.answers.items():
        traffic.answers[kind] = traffic.answers.get(kind, 0) + n - before.answers.get(kind, 0)
    for pod, n in now.by_pod.items():
        traffic.by_pod[pod] = traffic.by_pod.get(pod, 0) + n - before.by_pod.get(pod, 0)
    seen[reading.pod_uid] = now
    return gap


def settle(seen: dict[str, Seen], current: str | None) -> list[str]:
    """Clients gone (any but `current`) whose final count was never read: the requests they
    sent after their last reading are not counted. Said once each."""
    gaps = []
    for uid, last in seen.items():
        if uid != current and not last.final:
            gaps.append(
                f"the traffic client {uid} went before its final count was read: requests it "
                f"sent after its last reading ({last.sent} counted) are not counted"
            )
            last.final = True
    return gaps
