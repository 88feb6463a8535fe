"""Slim, immutable views of what the kubelet reports: a Pod's container status and its Events.

Only the fields the status pipeline needs are kept, so 1,000 HealthDemos cost little memory, and the
pipeline never depends on the shape of a raw API object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from healthdemo_operator import journal, names
from healthdemo_operator.journal import Journal
from healthdemo_operator.restart_rules import RestartRule, rules_of
from healthdemo_operator.timestamps import parse_time

KUBELET = "kubelet"
# client-go's aggregator rewrites the message of >10 similar Events within 10 minutes.
COMBINED_PREFIX = "(combined from similar events): "
# How the kubelet's Events begin for a failed probe, by its probe_type.
PROBE_FAILED = {
    "Liveness": "Liveness probe failed",
    "Readiness": "Readiness probe failed",
    "Startup": "Startup probe failed",
}
IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
# RestartAllContainers in the Pod status: the kubelet's condition while it restarts every
# container, and the lastState.terminated reason it gives each instance it removed for it.
ALL_RESTARTING = "AllContainersRestarting"
RESTARTING_ALL = "RestartingAllContainers"


@dataclass(frozen=True, slots=True)
class Termination:
    """A container's lastState.terminated: how the previous container ended."""

    reason: str
    exit_code: int
    started_at: datetime | None
    finished_at: datetime | None
    container_id: str | None

    @property
    def restarted_all(self) -> bool:
        """The kubelet removed this instance to restart every container of the Pod in place
        (a RestartAllContainers rule): the instance's own exit code and times are gone."""
        return self.reason == RESTARTING_ALL


@dataclass(frozen=True, slots=True)
class ContainerView:
    """One container of a Pod as its status tells it: what the restart count and the causes
    need. The webapp's is built from the Pod view's own fields; a sidecar's from
    `initContainerStatuses`, where the kubelet reports sidecars (init containers that keep
    running, restartPolicy Always)."""

    name: str
    restart_count: int
    last_termination: Termination | None
    journal: Journal | None = None
    running_since: datetime | None = None
    ended: Termination | None = None
    startup_threshold: int | None = None
    restart_rules: tuple[RestartRule, ...] = ()
    ready: bool = False
    sidecar: bool = False
    liveness_threshold: int | None = None  # a sidecar's liveness failureThreshold, if probed


@dataclass(frozen=True, slots=True)
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
    node_name: str | None = None
    deletion_requested: datetime | None = None  # deletionTimestamp minus the grace period
    journal: Journal | None = None  # our webapp's journal, from the last termination message
    gone: bool = False  # deleted: this is the last view of it (set by the controller)
    startup_threshold: int | None = None  # the startup probe's failureThreshold, if it has one
    not_ready_since: datetime | None = None  # Ready condition's lastTransitionTime while False
    # What decides whether an exit is restarted: the container's restartPolicy (else the Pod's)
    # and its restart rules, as the Pod has them (the API server drops what it does not know).
    restart_policy: str = "Always"
    restart_rules: tuple[RestartRule, ...] = ()
    ended: Termination | None = None  # state.terminated: the container exited, not restarted
    sidecars: tuple[ContainerView, ...] = ()  # besides the webapp: restarted on their own
    shape: str | None = None  # the spec's digest without resources (podspec.shape)
    # The AllContainersRestarting condition's lastTransitionTime: when the kubelet last began
    # or finished restarting every container (a RestartAllContainers rule); None without one.
    all_restarted_at: datetime | None = None
    replica: int = 0  # which of spec.replicas (its label; a Pod from before replicas: 0)
    digest: str | None = None  # the whole spec's digest (podspec.digest), as we built it

    @property
    def webapp(self) -> ContainerView:
        return ContainerView(
            name=names.CONTAINER_NAME,
            restart_count=self.restart_count,
            last_termination=self.last_termination,
            journal=self.journal,
            running_since=self.running_since,
            ended=self.ended,
            startup_threshold=self.startup_threshold,
            restart_rules=self.restart_rules,
            ready=self.ready,
        )

    def containers(self) -> tuple[ContainerView, ...]:
        """Every container whose restarts count: the webapp first, then its sidecars."""
        return (self.webapp, *self.sidecars)


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


def owner_uid(meta: Mapping[str, Any]) -> str | None:
    """The UID of the HealthDemo that controls the object with this metadata, if any."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == names.KIND:
            uid: str | None = ref.get("uid")
            return uid
    return None


def built_generation(meta: Mapping[str, Any]) -> int | None:
    """The HealthDemo generation our Pod was built from (its annotation)."""
    raw = (meta.get("annotations") or {}).get(names.ANNOTATION_GENERATION)
    return int(raw) if raw and raw.isdigit() else None


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
    all_restarting: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == ALL_RESTARTING), {}
    )
    deletion = parse_time(meta.get("deletionTimestamp"))
    if deletion is not None:
        deletion -= timedelta(seconds=int(meta.get("deletionGracePeriodSeconds") or 0))
    last_terminated = (container.get("lastState") or {}).get("terminated") or {}
    spec_container: Mapping[str, Any] = next(
        (
            c
            for c in (pod.get("spec") or {}).get("containers") or []
            if c.get("name") == names.CONTAINER_NAME
        ),
        {},
    )
    startup = spec_container.get("startupProbe")
    terminated = state.get("terminated") or {}
    # The newest journal: an ended container's own termination message, else the last one.
    message = terminated.get("message") or last_terminated.get("message")
    return PodView(
        uid=meta.get("uid", ""),
        name=meta.get("name", ""),
        owner_uid=owner_uid(meta),
        generation=built_generation(meta),
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
        last_termination=_termination(last_terminated),
        node_name=(pod.get("spec") or {}).get("nodeName") or None,
        deletion_requested=deletion,
        journal=journal.parse(message),
        startup_threshold=int(startup.get("failureThreshold") or 3) if startup else None,
        not_ready_since=None if ready else parse_time(ready_condition.get("lastTransitionTime")),
        restart_policy=str(
            spec_container.get("restartPolicy")
            or (pod.get("spec") or {}).get("restartPolicy")
            or "Always"
        ),
        restart_rules=rules_of(spec_container.get("restartPolicyRules")),
        ended=_termination(terminated),
        sidecars=_sidecars(pod),
        shape=(meta.get("annotations") or {}).get(names.ANNOTATION_SHAPE),
        all_restarted_at=parse_time(all_restarting.get("lastTransitionTime")),
        replica=_replica(meta),
        digest=(meta.get("annotations") or {}).get(names.ANNOTATION_DIGEST),
    )


def _replica(meta: Mapping[str, Any]) -> int:
    raw = str((meta.get("labels") or {}).get(names.LABEL_REPLICA) or "0")
    return int(raw) if raw.isdigit() else 0


def _sidecars(pod: Mapping[str, Any]) -> tuple[ContainerView, ...]:
    """The Pod's sidecars: init containers with restartPolicy Always, in the spec's order."""
    spec = pod.get("spec") or {}
    statuses = {
        c.get("name"): c for c in (pod.get("status") or {}).get("initContainerStatuses") or []
    }
    views = []
    for declared in spec.get("initContainers") or []:
        if declared.get("restartPolicy") != "Always":
            continue
        name = str(declared.get("name") or "")
        status = statuses.get(name) or {}
        state = status.get("state") or {}
        terminated = state.get("terminated") or {}
        last = (status.get("lastState") or {}).get("terminated") or {}
        startup = declared.get("startupProbe")
        liveness = declared.get("livenessProbe")
        views.append(
            ContainerView(
                name=name,
                restart_count=int(status.get("restartCount") or 0),
                last_termination=_termination(last),
                journal=journal.parse(terminated.get("message") or last.get("message")),
                running_since=parse_time((state.get("running") or {}).get("startedAt")),
                ended=_termination(terminated),
                startup_threshold=int(startup.get("failureThreshold") or 3) if startup else None,
                ready=bool(status.get("ready")),
                sidecar=True,
                liveness_threshold=int(liveness.get("failureThreshold") or 3) if liveness else None,
            )
        )
    return tuple(views)


@dataclass(frozen=True, slots=True)
class Readiness:
    """One state of a Pod's Ready condition, as one watch event showed it."""

    ready: bool
    changed: datetime | None  # the condition's lastTransitionTime


def readiness_of(pod: PodView) -> Readiness:
    return Readiness(pod.ready, pod.ready_since if pod.ready else pod.not_ready_since)


@dataclass(frozen=True, slots=True)
class ServiceView:
    """The Service in front of a HealthDemo's Pods, as the watch shows it."""

    uid: str
    name: str
    owner_uid: str | None
    cluster_ip: str | None


def service_view(service: Mapping[str, Any]) -> ServiceView:
    meta = service.get("metadata") or {}
    return ServiceView(
        uid=meta.get("uid", ""),
        name=meta.get("name", ""),
        owner_uid=owner_uid(meta),
        cluster_ip=(service.get("spec") or {}).get("clusterIP") or None,
    )


def current_pod(pods: Sequence[PodView], replica: int = 0) -> PodView | None:
    """The live Pod of a replica: the newest one not being deleted. Replica 0 is the one the
    status tells first (phase, conditions): without it (scaled, replaced), the newest of any."""
    live = [p for p in pods if not p.deleting and not p.gone]
    own = [p for p in live if p.replica == replica] or ([] if replica else live)
    return max(own, key=lambda p: (p.created or datetime.min, p.uid), default=None)


def live_pods(pods: Sequence[PodView]) -> list[PodView]:
    """The live Pod of each replica, by replica number."""
    found = {p.replica for p in pods if not p.deleting and not p.gone}
    return [pod for r in sorted(found) if (pod := current_pod(pods, r)) is not None]


@dataclass(frozen=True, slots=True)
class EventView:
    """A kubelet Event about one of our Pods. `count` grows as the API server aggregates."""

    uid: str
    pod_uid: str
    reason: str
    message: str
    count: int
    first: datetime | None
    last: datetime | None
    type: str = "Warning"
    container: str = names.CONTAINER_NAME  # from involvedObject.fieldPath; "" for the Pod

    @property
    def probe_failed(self) -> str | None:
        """The probe a failure Event is about, by the kubelet's probe_type ("Liveness", ...),
        whatever its reason (Kubernetes may add reasons for failures it ignores); else None."""
        if self.type != "Warning":
            return None
        for probe, words in PROBE_FAILED.items():
            if self.message.startswith(words):
                return probe
        return None

    def about(self, container: str) -> bool:
        """Whether the Event is about this container (one without a fieldPath: the webapp)."""
        return self.container == container or (
            not self.container and container == names.CONTAINER_NAME
        )

    @property
    def is_resize_kill(self) -> bool:
        """The kubelet's `Killing` Event for a resize ("Container X resize requires restart")."""
        return self.reason == "Killing" and "resize requires restart" in self.message

    @property
    def is_liveness_kill(self) -> bool:
        """The kubelet's `Killing` Event for a liveness restart ("...failed liveness probe...")."""
        return self.reason == "Killing" and "liveness probe" in self.message


def involved(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the Event is about: `involvedObject` (core/v1) or `regarding` (events.k8s.io/v1)."""
    about: Mapping[str, Any] = event.get("involvedObject") or event.get("regarding") or {}
    return about


def event_view(event: Mapping[str, Any]) -> EventView:
    """The view of a raw Event, in either shape: core/v1 or events.k8s.io/v1 (the same Events,
    other field names: `note` for `message`, `deprecated*` for the legacy count and times)."""
    meta = event.get("metadata") or {}
    series = event.get("series") or {}
    last = (
        parse_time(event.get("lastTimestamp") or event.get("deprecatedLastTimestamp"))
        or parse_time(series.get("lastObservedTime"))
        or parse_time(event.get("eventTime"))
        or parse_time(meta.get("creationTimestamp"))
    )
    first = (
        parse_time(event.get("firstTimestamp") or event.get("deprecatedFirstTimestamp"))
        or parse_time(event.get("eventTime"))
        or last
    )
    count = event.get("count") or event.get("deprecatedCount") or series.get("count") or 1
    message = event.get("message") if "message" in event else event.get("note")
    return EventView(
        uid=meta.get("uid", ""),
        pod_uid=involved(event).get("uid", ""),
        reason=event.get("reason") or "",
        message=(message or "").removeprefix(COMBINED_PREFIX),
        count=int(count),
        first=first,
        last=last,
        type=event.get("type") or "Normal",
        container=container_of(str(involved(event).get("fieldPath") or "")),
    )


def container_of(field_path: str) -> str:
    """The container an Event is about: "spec.containers{webapp}" or
    "spec.initContainers{sidecar}" name it; "" for the Pod itself."""
    if not field_path.endswith("}") or "{" not in field_path:
        return ""
    return field_path[field_path.index("{") + 1 : -1]
