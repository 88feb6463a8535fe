"""What the controller keeps about one HealthDemo between two reconciles: one record, so that
forgetting a HealthDemo is one `del` and no fact can outlive the others."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.observations import EventView, PodView, Readiness
from healthdemo_operator.status.ledger import Ledger
from healthdemo_operator.status.phase import Problem


@dataclass
class Baseline:
    """The status to build on — what this process last wrote, or read — with its ledger parsed
    once, and the resourceVersion that guards the next write."""

    status: dict[str, Any]
    ledger: Ledger
    resource_version: str

    @classmethod
    def of(cls, healthdemo: HealthDemo, events: Iterable[EventView]) -> Baseline:
        status = dict(healthdemo.status)
        return cls(
            status, Ledger.load(status.get("accounting"), events), healthdemo.resource_version
        )


@dataclass
class Tracked:
    baseline: Baseline | None = None
    stale: bool = False  # a write failed or conflicted: trust only a fresh read
    failures: int = 0  # reconciles failed in a row: the retry back-off
    problem: Problem | None = None  # why there is no Pod: shown as phase Invalid
    squatted: bool = False  # a Pod that is not ours holds our Pod's name
    service_taken: bool = False  # a Service that is not ours holds our Service's name
    closing: bool = False  # its namespace is being deleted: no Pod can be created any more
    # The generation whose Pod the API server would strip of a field its lesson needs, and
    # what it lacks: no Pod is created for it (a new generation is asked again).
    unsupported: tuple[int, str] | None = None
    departed: dict[str, PodView] = field(default_factory=dict)  # deleted, not yet recorded
    # Ready states each Pod showed in the watch, oldest first, not yet recorded: a reconcile sees
    # only the newest view, and a spell out of service can begin and end between two of them.
    ready_seen: dict[str, list[Readiness]] = field(default_factory=dict)
