"""A HealthDemo's status, typed: what the passes of `record` read and write, loaded from the
status the API server holds and dumped back into exactly the JSON the CRD declares.

Fields a newer or older operator wrote that this one does not know are kept as they were
(`other`), so a round trip through this type never loses anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_operator.observations import EventView
from healthdemo_operator.status.ledger import Ledger
from healthdemo_operator.traffic.tally import Traffic

# Upper bounds (seconds) of the recovery histogram, status.recovery (served as the Prometheus
# histogram healthdemo_recovery_seconds): from fast probes' few seconds to CrashLoopBackOff's
# five minutes. Changing them splits each HealthDemo's series: keep them.
RECOVERY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# The other probes' failures, by the kubelet's probe_type, and the status field each adds up in.
PROBE_FIELDS = {
    "Liveness": "probeFailures",
    "Readiness": "readinessFailures",
    "Startup": "startupFailures",
}


def bucket_key(bound: float) -> str:
    """A bound as status.recovery.buckets names it: "2.5", "10"."""
    return f"{bound:g}"


@dataclass(frozen=True, slots=True)
class PodSummary:
    """One live Pod of the HealthDemo, as `status.pods` lists it."""

    name: str
    replica: int
    ready: bool
    restarts: int  # every container's, as the kubelet counts them in this Pod
    last_restart_reason: str | None = None

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"name": self.name, "replica": self.replica, "ready": self.ready,
                               "restarts": self.restarts}  # fmt: skip
        if self.last_restart_reason is not None:
            raw["lastRestartReason"] = self.last_restart_reason
        return raw


@dataclass(slots=True)
class Restart:
    """One history item: a restart, its cause and the evidence for it."""

    restart: int  # the Pod's restart number (1 for its first)
    pod_name: str
    reason: str
    evidence: str
    time: str | None  # when the container ended, if anything still says
    exit_code: int | None = None
    probe_failures: int = 0  # for a probe kill: the failures in a row it took
    container_id: str | None = None
    recovery_seconds: float | None = None
    failing_since: str | None = None
    detail: str | None = None
    measured_seconds: float | None = None
    expected_seconds: float | None = None
    # CrashLoopBackOff: the wait from the container's end to the next one's start, and the
    # node's schedule for it (None where the schedule cannot be known).
    back_off_seconds: float | None = None
    expected_back_off_seconds: float | None = None
    container: str = CONTAINER_NAME  # which container restarted (items before sidecars: webapp)
    requests_lost: int | None = None  # spec.traffic: requests that got no ok answer meanwhile

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> Restart:
        return cls(
            restart=int(raw.get("restart") or 0),
            pod_name=str(raw.get("podName") or ""),
            reason=str(raw.get("reason") or "Unknown"),
            evidence=str(raw.get("evidence") or "None"),
            time=raw.get("time"),
            exit_code=raw.get("exitCode"),
            probe_failures=int(raw.get("probeFailures") or 0),
            container_id=raw.get("containerID"),
            recovery_seconds=raw.get("recoverySeconds"),
            failing_since=raw.get("failingSince"),
            detail=raw.get("detail"),
            measured_seconds=raw.get("measuredSeconds"),
            expected_seconds=raw.get("expectedSeconds"),
            back_off_seconds=raw.get("backOffSeconds"),
            expected_back_off_seconds=raw.get("expectedBackOffSeconds"),
            container=str(raw.get("container") or CONTAINER_NAME),
            requests_lost=raw.get("requestsLost"),
        )

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "time": self.time,
            "reason": self.reason,
            "exitCode": self.exit_code,
            "probeFailures": self.probe_failures,
            "recoverySeconds": self.recovery_seconds,
            "podName": self.pod_name,
            "containerID": self.container_id,
            "restart": self.restart,
            "evidence": self.evidence,
        }
        optional = {
            "failingSince": self.failing_since,
            "detail": self.detail,
            "measuredSeconds": self.measured_seconds,
            "expectedSeconds": self.expected_seconds,
            "backOffSeconds": self.back_off_seconds,
            "expectedBackOffSeconds": self.expected_back_off_seconds,
            "container": None if self.container == CONTAINER_NAME else self.container,
            "requestsLost": self.requests_lost,
        }
        raw.update({key: value for key, value in optional.items() if value is not None})
        return raw


@dataclass(slots=True)
class Forgiven:
    """The last failures the kubelet forgave: fewer than failureThreshold in a row."""

    failures: int
    failure_threshold: int
    start: str | None
    end: str | None

    def dump(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "failureThreshold": self.failure_threshold,
            "from": self.start,
            "to": self.end,
        }


@dataclass(slots=True)
class Service:
    """Spells out of service (Ready False after True), and how long they lasted."""

    out_of_service: int = 0
    seconds: float = 0.0
    last_seconds: float | None = None
    not_ready_since: str | None = None

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"outOfService": self.out_of_service}
        raw["outOfServiceSeconds"] = self.seconds
        if self.last_seconds is not None:
            raw["lastOutOfServiceSeconds"] = self.last_seconds
        if self.not_ready_since is not None:
            raw["notReadySince"] = self.not_ready_since
        return raw


@dataclass(slots=True)
class Recovery:
    """The recovery histogram: cumulative bucket counts (as Prometheus' `le`), sum and count.
    Each restart is in it once: added where its recoverySeconds is set, in the same write."""

    count: int = 0
    sum_seconds: float = 0.0
    buckets: dict[str, int] = field(default_factory=dict)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.sum_seconds = round(self.sum_seconds + seconds, 1)
        for bound in RECOVERY_BUCKETS:
            key = bucket_key(bound)
            self.buckets[key] = self.buckets.get(key, 0) + int(seconds <= bound)

    def dump(self) -> dict[str, Any]:
        return {"count": self.count, "sumSeconds": self.sum_seconds, "buckets": self.buckets}


@dataclass(slots=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str
    last_transition_time: str | None
    observed_generation: int | None = None

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> Condition:
        return cls(
            str(raw.get("type")),
            str(raw.get("status")),
            str(raw.get("reason") or ""),
            str(raw.get("message") or ""),
            raw.get("lastTransitionTime"),
            raw.get("observedGeneration"),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
            "observedGeneration": self.observed_generation,
        }


@dataclass(slots=True)
class Status:
    ledger: Ledger = field(default_factory=Ledger)
    failures: dict[str, int] = field(default_factory=dict)  # by probe type (PROBE_FIELDS)
    restarts: int = 0
    restart_reasons: dict[str, int] = field(default_factory=dict)
    # Restarts by container: they add up to `restarts` (a status from before sidecars: webapp).
    container_restarts: dict[str, int] = field(default_factory=dict)
    history: list[Restart] = field(default_factory=list)  # newest first
    last_probe_failure_time: str | None = None
    last_probe_failure_message: str | None = None
    last_restart_time: str | None = None
    last_restart_reason: str | None = None
    last_forgiven: Forgiven | None = None
    service: Service = field(default_factory=Service)
    recovery: Recovery | None = None
    phase: str | None = None
    pod_name: str | None = None
    ready: str | None = None  # "1/2": Pods ready of spec.replicas
    kubelet_route: str | None = (
        None  # how the kubelet's counters were last read: Kubelet, APIServerProxy
    )
    pods: list[PodSummary] = field(default_factory=list)
    observed_generation: int | None = None
    expected: Mapping[str, Any] | None = None  # the probe math (expected.probe_math)
    conditions: list[Condition] = field(default_factory=list)
    traffic: Traffic | None = None  # the traffic client's counts, once it has one
    other: dict[str, Any] = field(default_factory=dict)  # fields this operator does not know

    @classmethod
    def load(cls, raw: Mapping[str, Any], live_events: Iterable[EventView] = ()) -> Status:
        raw = dict(raw)

        def take(key: str) -> Any:
            return raw.pop(key, None)

        forgiven = take("lastForgiven")
        service = take("readiness") or {}
        recovery = take("recovery")
        status = cls(
            ledger=Ledger.load(take("accounting"), live_events),
            failures={kind: int(take(key) or 0) for kind, key in PROBE_FIELDS.items()},
            restarts=int(take("restarts") or 0),
            restart_reasons=dict(take("restartReasons") or {}),
            container_restarts=dict(take("containerRestarts") or {}),
            history=[Restart.load(item) for item in take("history") or []],
            last_probe_failure_time=take("lastProbeFailureTime"),
            last_probe_failure_message=take("lastProbeFailureMessage"),
            last_restart_time=take("lastRestartTime"),
            last_restart_reason=take("lastRestartReason"),
            last_forgiven=Forgiven(
                int(forgiven.get("failures") or 0),
                int(forgiven.get("failureThreshold") or 0),
                forgiven.get("from"),
                forgiven.get("to"),
            )
            if forgiven
            else None,
            service=Service(
                int(service.get("outOfService") or 0),
                float(service.get("outOfServiceSeconds") or 0.0),
                service.get("lastOutOfServiceSeconds"),
                service.get("notReadySince"),
            ),
            recovery=Recovery(
                int(recovery.get("count") or 0),
                float(recovery.get("sumSeconds") or 0.0),
                {k: int(v) for k, v in (recovery.get("buckets") or {}).items()},
            )
            if recovery
            else None,
            phase=take("phase"),
            pod_name=take("podName"),
            ready=take("ready"),
            kubelet_route=take("kubeletRoute"),
            pods=[
                PodSummary(
                    str(p.get("name") or ""),
                    int(p.get("replica") or 0),
                    bool(p.get("ready")),
                    int(p.get("restarts") or 0),
                    p.get("lastRestartReason"),
                )
                for p in take("pods") or []
            ],
            observed_generation=take("observedGeneration"),
            expected=take("expected"),
            conditions=[Condition.load(c) for c in take("conditions") or []],
            traffic=Traffic.load(take("traffic")),
        )
        status.other = raw
        if not status.container_restarts and status.restarts:
            status.container_restarts = {CONTAINER_NAME: status.restarts}  # written before
        return status

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    def dump(self) -> dict[str, Any]:
        """The JSON the API server stores (the CRD declares every field)."""
        raw: dict[str, Any] = dict(self.other)
        raw.update(
            restarts=self.restarts,
            restartReasons=self.restart_reasons,
            containerRestarts=self.container_restarts,
            history=[item.dump() for item in self.history],
            readiness=self.service.dump(),
        )
        raw.update({key: self.failures.get(kind, 0) for kind, key in PROBE_FIELDS.items()})
        optional: dict[str, Any] = {
            "lastProbeFailureTime": self.last_probe_failure_time,
            "lastProbeFailureMessage": self.last_probe_failure_message,
            "lastRestartTime": self.last_restart_time,
            "lastRestartReason": self.last_restart_reason,
            "lastForgiven": self.last_forgiven.dump() if self.last_forgiven else None,
            "recovery": self.recovery.dump() if self.recovery else None,
            "phase": self.phase,
            "podName": self.pod_name,
            "ready": self.ready,
            "kubeletRoute": self.kubelet_route,
            "pods": [p.dump() for p in self.pods] or None,
            "observedGeneration": self.observed_generation,
            "expected": dict(self.expected) if self.expected is not None else None,
            "traffic": self.traffic.dump() if self.traffic is not None else None,
        }
        raw.update({key: value for key, value in optional.items() if value is not None})
        raw["conditions"] = [c.dump() for c in self.conditions]
        raw["accounting"] = self.ledger.dump()
        return raw
