"""Realistic kubelet-shaped objects for the pure tests: Pod statuses and core/v1 Events as a
1.34 kubelet writes them (field names, reasons, messages, aggregation)."""

from __future__ import annotations

from typing import Any

POD_UID = "6f1c2b1e-0c8a-4f5e-9a61-1d2b3c4d5e6f"
OWNER_UID = "0b7d1e42-8d3c-4b1a-a7f0-6e5d4c3b2a19"
NODE = "sandbox-node"


def pod(
    *,
    uid: str = POD_UID,
    name: str = "demo-webapp",
    restarts: int = 0,
    state: dict[str, Any] | None = None,
    last_terminated: dict[str, Any] | None = None,
    ready: bool = True,
    ready_since: str = "2026-11-30T10:00:05Z",
    created: str = "2026-11-30T10:00:00Z",
    container_id: str = "containerd://c2",
    generation: int = 1,
    deleting: bool = False,
) -> dict[str, Any]:
    """A Pod as the API returns it after the kubelet's status updates."""
    container: dict[str, Any] = {
        "name": "webapp",
        "image": "docker.io/library/flask-webapp:latest",
        "imageID": "docker.io/library/flask-webapp@sha256:" + "a" * 64,
        "containerID": container_id,
        "restartCount": restarts,
        "ready": ready,
        "started": True,
        "state": state or {"running": {"startedAt": "2026-11-30T10:00:04Z"}},
        "lastState": {"terminated": last_terminated} if last_terminated else {},
    }
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": uid,
        "creationTimestamp": created,
        "labels": {
            "app.kubernetes.io/name": "flask-webapp",
            "app.kubernetes.io/managed-by": "healthdemo-operator",
            "demo.example.com/healthdemo-uid": OWNER_UID,
        },
        "annotations": {"demo.example.com/generation": str(generation)},
        "ownerReferences": [
            {
                "apiVersion": "demo.example.com/v1",
                "kind": "HealthDemo",
                "name": "demo",
                "uid": OWNER_UID,
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ],
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-30T11:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"nodeName": NODE},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": ready_since,
                },
                {"type": "ContainersReady", "status": "True" if ready else "False"},
                {"type": "PodScheduled", "status": "True"},
            ],
            "podIP": "10.88.0.7",
            "containerStatuses": [container],
        },
    }


def liveness_kill_termination(
    started: str = "2026-11-30T10:00:04Z",
    finished: str = "2026-11-30T10:00:35Z",
    container_id: str = "containerd://c1",
) -> dict[str, Any]:
    """lastState.terminated after the kubelet killed the container for its liveness probe; our
    webapp exits 0 on SIGTERM, so the runtime says Completed."""
    return {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": started,
        "finishedAt": finished,
        "containerID": container_id,
    }


def event(
    *,
    uid: str,
    reason: str,
    message: str,
    count: int = 1,
    first: str = "2026-11-30T10:00:14Z",
    last: str | None = None,
    pod_uid: str = POD_UID,
    event_type: str = "Warning",
) -> dict[str, Any]:
    """A core/v1 Event as the kubelet's recorder creates (and the API server aggregates) it."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"demo-webapp.{uid[:8]}",
            "namespace": "default",
            "uid": uid,
            "creationTimestamp": first,
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": "demo-webapp",
            "namespace": "default",
            "uid": pod_uid,
            "fieldPath": "spec.containers{webapp}",
        },
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": NODE},
        "firstTimestamp": first,
        "lastTimestamp": last or first,
        "count": count,
        "type": event_type,
        "eventTime": None,
        "reportingComponent": "kubelet",
        "reportingInstance": NODE,
    }


LIVENESS_500 = "Liveness probe failed: HTTP probe failed with statuscode: 500"
LIVENESS_TIMEOUT = (
    'Liveness probe failed: Get "http://10.88.0.7:5000/healthz": context deadline exceeded '
    "(Client.Timeout exceeded while awaiting headers)"
)
READINESS_503 = "Readiness probe failed: HTTP probe failed with statuscode: 503"
KILLING_LIVENESS = "Container webapp failed liveness probe, will be restarted"
KILLING_STOP = "Stopping container webapp"
BACKOFF = "Back-off restarting failed container webapp in pod demo-webapp_default(" + POD_UID + ")"


# The kubelet's /metrics/probes (1.34), trimmed: our Pod failed 32 liveness probes; another Pod
# of ours failed readiness only; a Pod that is not ours (another container name) is ignored.
def _series(name: str, value: int, **labels: str) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "} " + str(value)


def _probe_total(
    pod: str, uid: str, probe: str, result: str, value: int, *, c: str = "webapp"
) -> str:
    return _series(
        "prober_probe_total", value, container=c, namespace="default", pod=pod, pod_uid=uid,
        probe_type=probe, result=result,
    )  # fmt: skip


PROBE_METRICS = "\n".join(
    [
        "# HELP prober_probe_duration_seconds [ALPHA] Duration in seconds for a probe response.",
        "# TYPE prober_probe_duration_seconds histogram",
        _series(
            "prober_probe_duration_seconds_bucket",
            40,
            container="webapp",
            namespace="default",
            pod="demo-webapp",
            probe_type="Liveness",
            le="0.005",
        ),
        "# HELP process_start_time_seconds [ALPHA] Start time of the process since unix epoch in "
        "seconds.",
        "# TYPE process_start_time_seconds gauge",
        "process_start_time_seconds 1.76509e+09",
        "# HELP prober_probe_total [BETA] Cumulative number of a liveness, readiness or startup "
        "probe for a container by result.",
        "# TYPE prober_probe_total counter",
        _probe_total("demo-webapp", POD_UID, "Liveness", "failed", 32),
        _probe_total("demo-webapp", POD_UID, "Liveness", "successful", 71),
        _probe_total("other-webapp", "other-pod-uid", "Liveness", "successful", 9),
        _probe_total("other-webapp", "other-pod-uid", "Liveness", "failed", 0),
        _probe_total("other-webapp", "other-pod-uid", "Readiness", "failed", 4),
        _probe_total("theirs", "theirs-uid", "Liveness", "failed", 7, c="app"),
    ]
)
