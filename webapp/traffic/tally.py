"""Every answer the traffic client got, by kind and by Pod, and the windows of failed requests
between successes: the operator lays those windows over its episodes. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Kind = Literal["ok", "5xx", "refused", "reset", "timeout", "other"]
KINDS: tuple[Kind, ...] = get_args(Kind)
WINDOWS = 100  # the newest windows kept; the totals keep everything


@dataclass
class Window:
    """Failed requests with no success between them: `start`/`end` are the first and the last
    failed request's send times (Unix seconds)."""

    start: float
    end: float
    counts: dict[str, int] = field(default_factory=dict)
    closed_at: float | None = None  # the first success sent after it: the window is over

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "counts": dict(self.counts),
                "closedAt": self.closed_at}  # fmt: skip

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Window:
        closed = raw.get("closedAt")
        return cls(float(raw["start"]), float(raw["end"]),
                   {str(k): int(v) for k, v in (raw.get("counts") or {}).items()},
                   None if closed is None else float(closed))  # fmt: skip


@dataclass
class Tally:
    started: float  # the first start of the client with this state
    sent: int = 0
    answers: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})
    by_pod: dict[str, int] = field(default_factory=dict)  # answers (ok or 5xx) by Pod
    windows: list[Window] = field(default_factory=list)  # oldest first
    starts: int = 1  # how many times the client started with this state (its own restarts + 1)

    def record(self, kind: Kind, pod: str | None, at: float) -> None:
        """One request sent at `at` and how it ended; `pod`: who answered, if anyone did."""
        self.sent += 1
        self.answers[kind] = self.answers.get(kind, 0) + 1
        if pod:
            self.by_pod[pod] = self.by_pod.get(pod, 0) + 1
        current = self.windows[-1] if self.windows else None
        if kind == "ok":  # answers come back out of order: the earliest success sent after
            if current is not None and at >= current.end:
                closed = current.closed_at
                current.closed_at = at if closed is None else min(closed, at)
            return
        if current is None or (current.closed_at is not None and at > current.closed_at):
            current = Window(at, at)
            self.windows.append(current)
            del self.windows[:-WINDOWS]
        current.start, current.end = min(current.start, at), max(current.end, at)
        current.counts[kind] = current.counts.get(kind, 0) + 1

    @property
    def failed(self) -> int:
        return self.sent - self.answers.get("ok", 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "starts": self.starts,
            "sent": self.sent,
            "answers": dict(self.answers),
            "byPod": dict(self.by_pod),
            "windows": [w.to_json() for w in self.windows],
        }

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Tally:
        answers: dict[str, int] = dict.fromkeys(KINDS, 0)
        answers.update({str(k): int(v) for k, v in (raw.get("answers") or {}).items()})
        return cls(
            started=float(raw["started"]),
            sent=int(raw.get("sent") or 0),
            answers=answers,
            by_pod={str(k): int(v) for k, v in (raw.get("byPod") or {}).items()},
            windows=[Window.of(w) for w in raw.get("windows") or []],
            starts=int(raw.get("starts") or 1),
        )
