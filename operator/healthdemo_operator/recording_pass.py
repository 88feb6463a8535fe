"""One recording pass over a HealthDemo's observations: its inputs, and the status, ledger and
notices it builds. The steps (`failures`, `history`, `departures`, `completeness`) each update
it in turn; `recording.record` runs them in order."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from healthdemo_operator.ledger import Ledger, PodEntry
from healthdemo_operator.observations import EventView, PodView, Readiness
from healthdemo_operator.probe_counters import ProbeCounts
from healthdemo_operator.timestamps import format_time

# Clock slack between the kubelet's timestamps and ours (second precision).
SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class PodCounters:
    """What the kubelet's probe counters say about one Pod."""

    counts: ProbeCounts | None  # the latest counts the kubelet showed for it (None: none yet)
    at: datetime | None  # ...read at
    error: str | None = None  # the latest read of its node failed: why


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post on the HealthDemo."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


class RecordingPass:
    """The status being built from the previous one and what was observed."""

    def __init__(
        self,
        *,
        previous: Mapping[str, Any],
        spec: Mapping[str, Any],
        now: datetime,
        pods: Sequence[PodView],
        events: Sequence[EventView],
        counters: Mapping[str, PodCounters],
        ledger: Ledger | None,
        ready_seen: Mapping[str, Sequence[Readiness]],
    ) -> None:
        self.status: dict[str, Any] = copy.deepcopy(dict(previous))
        raw = self.status.pop("accounting", None)
        self.ledger = ledger if ledger is not None else Ledger.load(raw, events)
        self.spec, self.now = spec, now
        self.pods, self.events, self.counters = pods, events, counters
        self.ready_seen = ready_seen
        self.notices: list[Notice] = []
        self.status.setdefault("restarts", 0)
        self.status.setdefault("probeFailures", 0)
        self.status.setdefault("history", [])
        self.status.setdefault("restartReasons", {})
        liveness = spec["livenessProbe"]
        self.period = timedelta(seconds=liveness["periodSeconds"])
        # Failures further apart than this belong to different episodes (no restart between).
        self.episode_gap = timedelta(
            seconds=liveness["periodSeconds"] * (liveness["failureThreshold"] + 1)
            + liveness["timeoutSeconds"]
        )
        # What this pass learnt from Events about each Pod's failures: (earliest first, last).
        self.event_times: dict[str, tuple[datetime, datetime]] = {}
        for pod in pods:
            self.ledger.pods.setdefault(pod.uid, PodEntry(seen=format_time(now)))

    def finish(self) -> dict[str, Any]:
        """The status, with the ledger written back into it (the same write as the totals)."""
        self.status["accounting"] = self.ledger.dump()
        return self.status
