"""Slim, immutable views of what the kubelet reports: a Pod's container status and its Events.

Only the fields the recorder needs are kept, so 1,000 HealthDemos cost little memory, and the
recorder never depends on the shape of a raw API object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from healthdemo_operator import names

LIVENESS_FAILED = "Liveness probe failed"
# client-go's aggregator rewrites the message of >10 similar Events within 10 minutes.
COMBINED_PREFIX = "(combined from similar events): "
READINESS_FAILED = "Readiness probe failed"
IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
# Event reasons the recorder reads; everything else about our Pods is ignored.
RELEVANT_REASONS = frozenset({"Unhealthy", "Killing", "BackOff", "Failed"})


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Termination:
    """A container's lastState.terminated: how the previous container ended."""

    reason: str
    exit_code: int
    started_at: datetime | None
    finished_at: datetime | None
    container_id: str | None


@dataclass(frozen=True)
class PodView:
    uid: str
    name: str
    owner_uid: str | None
    generation: int | None
    created: datetime | None
    deleting: bool
    phase: str
    restart_count: int
    ready: bool
    ready_since: datetime | None  # Ready condition's lastTransitionTime while True
    container_id: str | None
    running_since: datetime | None
    waiting_reason: str | None
    waiting_message: str | None
    last_termination: Termination | None


def _termination(raw: Mapping[str, Any] | None) -> Termination | None:
    if not raw:
        return None
    return Termination(
        reason=str(raw.get("reason") or ""),
        exit_code=int(raw.get("exitCode") or 0),
        started_at=parse_time(raw.get("startedAt")),
        finished_at=parse_time(raw.get("finishedAt")),
        container_id=raw.get("containerID"),
    )


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """The view of a raw Pod (as Kopf or the API gives it)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    container: Mapping[str, Any] = next(
        (c for c in status.get("containerStatuses") or [] if c.get("name") == names.CONTAINER_NAME),
        {},
    )
    state = container.get("state") or {}
    ready_condition: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    ready = ready_condition.get("status") == "True" and bool(container.get("ready"))
    owner = next(
        (
            ref.get("uid")
            for ref in meta.get("ownerReferences") or []
            if ref.get("controller") and ref.get("kind") == names.KIND
        ),
        None,
    )
    generation = (meta.get("annotations") or {}).get(names.ANNOTATION_GENERATION)
    return PodView(
        uid=meta.get("uid", ""),
        name=meta.get("name", ""),
        owner_uid=owner,
        generation=int(generation) if generation and generation.isdigit() else None,
        created=parse_time(meta.get("creationTimestamp")),
        deleting=bool(meta.get("deletionTimestamp")),
        phase=status.get("phase") or "Pending",
        restart_count=int(container.get("restartCount") or 0),
        ready=ready,
        ready_since=parse_time(ready_condition.get("lastTransitionTime")) if ready else None,
        container_id=container.get("containerID"),
        running_since=parse_time((state.get("running") or {}).get("startedAt")),
        waiting_reason=(state.get("waiting") or {}).get("reason"),
        waiting_message=(state.get("waiting") or {}).get("message"),
        last_termination=_termination((container.get("lastState") or {}).get("terminated")),
    )


@dataclass(frozen=True)
class EventView:
    """A kubelet Event about one of our Pods. `count` grows as the API server aggregates."""

    uid: str
    pod_uid: str
    reason: str
    message: str
    count: int
    first: datetime | None
    last: datetime | None

    @property
    def is_liveness_failure(self) -> bool:
        return self.reason == "Unhealthy" and self.message.startswith(LIVENESS_FAILED)

    @property
    def is_liveness_kill(self) -> bool:
        """The kubelet's `Killing` Event for a liveness restart ("...failed liveness probe...")."""
        return self.reason == "Killing" and "liveness probe" in self.message


def is_relevant_event(event: Mapping[str, Any]) -> bool:
    involved = event.get("involvedObject") or {}
    return involved.get("kind") == "Pod" and event.get("reason") in RELEVANT_REASONS


def event_view(event: Mapping[str, Any]) -> EventView:
    """The view of a raw core/v1 Event; tolerates both the legacy and the events.k8s.io shape."""
    meta = event.get("metadata") or {}
    series = event.get("series") or {}
    last = (
        parse_time(event.get("lastTimestamp"))
        or parse_time(series.get("lastObservedTime"))
        or parse_time(event.get("eventTime"))
        or parse_time(meta.get("creationTimestamp"))
    )
    first = parse_time(event.get("firstTimestamp")) or parse_time(event.get("eventTime")) or last
    count = event.get("count") or series.get("count") or 1
    return EventView(
        uid=meta.get("uid", ""),
        pod_uid=(event.get("involvedObject") or {}).get("uid", ""),
        reason=event.get("reason") or "",
        message=(event.get("message") or "").removeprefix(COMBINED_PREFIX),
        count=int(count),
        first=first,
        last=last,
    )
