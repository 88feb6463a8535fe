"""The operator's ledger, kept in `status.accounting`: what it has already counted, per Pod and
per Event, so that a restarted operator adds only what is new — never twice, never lost.

Typed here, stored as plain JSON (the CRD declares every field, or the API server would prune
it). Written in the same status update as the totals it explains.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from healthdemo_operator.observations import EventView

VERSION = 2
MAX_GAPS = 10


@dataclass
class Tally:
    """Failures of one more probe (readiness, startup) of one Pod, from both sources."""

    events: int = 0  # as the kubelet's Events told them
    raw: int | None = None  # the kubelet's counter at the last read
    total: int = 0  # ...added up across resets of that counter
    counted: int = 0  # in the status: the larger of the two

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> Tally:
        return cls(
            events=int(raw.get("events") or 0),
            raw=raw.get("raw"),
            total=int(raw.get("total") or 0),
            counted=int(raw.get("counted") or 0),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "raw": self.raw,
            "total": self.total,
            "counted": self.counted,
        }


@dataclass
class PodEntry:
    """One Pod of the HealthDemo (also a replaced one, for a while)."""

    restarts: int = 0  # the Pod's restartCount already counted
    kills: int = 0  # liveness Killing Events already paired with a restart (no journal)
    seen: str | None = None  # when `restarts` last moved
    failures: int = 0  # liveness probe failures counted: the larger of the two sources below
    events: int = 0  # ...as the kubelet's Events told them
    normal_events: int = 0  # Normal Events the kubelet posted about it (its Event budget)
    kubelet_raw: int | None = None  # the kubelet's counter at the last read
    kubelet_total: int = 0  # ...added up across resets of that counter
    kubelet_at: str | None = None  # the last read that found the Pod's counters
    final: bool = False  # its last state after deletion is recorded: gone is fine
    others: dict[str, Tally] = field(default_factory=dict)  # "Readiness", "Startup"
    ready: bool | None = None  # the Pod's readiness when last seen
    ready_at: str | None = None  # ...and when it last changed (the Ready condition's time)
    out_since: str | None = None  # it left service then (seen ready before), not back yet

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> PodEntry:
        kubelet = raw.get("kubelet") or {}
        return cls(
            restarts=int(raw.get("restarts") or 0),
            kills=int(raw.get("kills") or 0),
            seen=raw.get("seen"),
            failures=int(raw.get("failures") or 0),
            events=int(raw.get("events") or 0),
            normal_events=int(raw.get("normalEvents") or 0),
            kubelet_raw=kubelet.get("raw"),
            kubelet_total=int(kubelet.get("total") or 0),
            kubelet_at=kubelet.get("at"),
            final=bool(raw.get("final")),
            others={kind: Tally.load(t) for kind, t in (raw.get("others") or {}).items()},
            ready=raw.get("ready"),
            ready_at=raw.get("readyAt"),
            out_since=raw.get("outSince"),
        )

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "restarts": self.restarts,
            "kills": self.kills,
            "seen": self.seen,
            "failures": self.failures,
            "events": self.events,
            "normalEvents": self.normal_events,
        }
        if self.kubelet_raw is not None:
            raw["kubelet"] = {
                "raw": self.kubelet_raw,
                "total": self.kubelet_total,
                "at": self.kubelet_at,
            }
        if self.final:
            raw["final"] = True
        if self.others:
            raw["others"] = {kind: tally.dump() for kind, tally in self.others.items()}
        if self.ready is not None:
            raw.update(ready=self.ready, readyAt=self.ready_at, outSince=self.out_since)
        return raw


@dataclass
class EventEntry:
    count: int
    last: str | None
    pod: str


@dataclass
class Gap:
    """A signal that was truly lost: the numbers it fed are lower bounds from then on."""

    reason: str
    message: str
    at: str | None


@dataclass
class Ledger:
    pods: dict[str, PodEntry] = field(default_factory=dict)
    events: dict[str, EventEntry] = field(default_factory=dict)
    episode: dict[str, Any] | None = None
    gaps: list[Gap] = field(default_factory=list)

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None, live_events: Iterable[EventView]) -> Ledger:
        raw = raw or {}
        pods = {uid: PodEntry.load(entry) for uid, entry in (raw.get("pods") or {}).items()}
        pod_of = {e.uid: e.pod_uid for e in live_events}
        events = {
            uid: EventEntry(
                int(entry.get("count") or 0),
                entry.get("last"),
                entry.get("pod") or pod_of.get(uid, ""),
            )
            for uid, entry in (raw.get("events") or {}).items()
        }
        if raw and raw.get("version") != VERSION:
            # Version 1 counted liveness failures from Events only, without Pods: what it
            # counted per Pod is what its live Events say.
            for entry in events.values():
                if entry.pod in pods:
                    pods[entry.pod].events += entry.count
                    pods[entry.pod].failures += entry.count
        gaps = [Gap(g["reason"], g["message"], g.get("at")) for g in raw.get("gaps") or []]
        return cls(pods=pods, events=events, episode=raw.get("episode"), gaps=gaps)

    def copy(self) -> Ledger:
        """A copy to count on: the original stays as written until the write succeeds."""
        return copy.deepcopy(self)

    def add_gap(self, reason: str, message: str, at: str | None) -> None:
        if all(g.message != message for g in self.gaps):
            self.gaps.append(Gap(reason, message, at))
            del self.gaps[:-MAX_GAPS]

    def dump(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "pods": {uid: entry.dump() for uid, entry in self.pods.items()},
            "events": {
                uid: {"count": e.count, "last": e.last, "pod": e.pod}
                for uid, e in self.events.items()
            },
            "episode": self.episode,
            "gaps": [{"reason": g.reason, "message": g.message, "at": g.at} for g in self.gaps],
        }
