"""The test plays the kubelet through the real API: Pod status updates and kubelet Events,
created and aggregated exactly as a kubelet's recorder does (same name, count + 1) — and, for a
Pod placed on a stand-in kubelet's Node, the kubelet's own probe counters."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from healthdemo_sandbox.kubeletstandin import KubeletStandIn, StandInPod
from kubernetes import client

NODE = "sandbox-node"


def stamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeletActor:
    def __init__(
        self, core: client.CoreV1Api, namespace: str, pod_name: str, pod_ip: str = "10.88.0.9"
    ) -> None:
        self.core, self.namespace, self.pod_name = core, namespace, pod_name
        # Where the API server's Pod proxy goes: a real webapp's address, where a test runs one.
        self.pod_ip = pod_ip
        self._container = 0
        self._started = datetime.now(UTC)
        # The Ready condition: like the kubelet's status manager, its lastTransitionTime moves
        # only when its status does.
        self._ready: bool | None = None
        self._ready_changed = self._started
        self.standin: KubeletStandIn  # once placed on one
        self.uid = ""

    def place(self, standin: KubeletStandIn) -> None:
        """Schedule the Pod on the stand-in's Node: from now on its kubelet counts its probes."""
        self.standin = standin
        uid = self.pod()["metadata"]["uid"]
        standin.bind(self.core, StandInPod(self.namespace, self.pod_name, uid))
        self.uid = uid

    def liveness_failed(self, unhealthy: str, count: int) -> None:
        """`count` failed liveness probes so far, told by both sources: the `Unhealthy` Event's
        count, and (once placed on a stand-in kubelet) the kubelet's counter."""
        self.aggregate(unhealthy, count)
        if self.uid:
            self.counted(count)

    def counted(self, failed: int, probe: str = "Liveness") -> None:
        """The stand-in kubelet's failed count of this Pod's `probe`, from now on."""
        self.standin.count(self.uid, probe, failed)

    def pod(self) -> dict[str, Any]:
        pod: dict[str, Any] = self.core.api_client.sanitize_for_serialization(
            self.core.read_namespaced_pod(self.pod_name, self.namespace)
        )
        return pod

    def container_id(self) -> str:
        return f"containerd://{self.pod_name}-c{self._container}"

    def run_container(
        self,
        *,
        restarts: int = 0,
        ready: bool = True,
        last_terminated: dict[str, Any] | None = None,
        waiting: dict[str, str] | None = None,
    ) -> None:
        """Report the container running (or waiting), as the kubelet's status manager does."""
        now = datetime.now(UTC)
        if waiting is None:
            self._container += 1
            self._started = now
        state: dict[str, Any] = (
            {"waiting": waiting} if waiting else {"running": {"startedAt": stamp(now)}}
        )
        is_ready = ready and waiting is None
        condition = "True" if is_ready else "False"
        if is_ready != self._ready:
            self._ready, self._ready_changed = is_ready, now
        status = {
            "phase": "Running" if waiting is None or restarts else "Pending",
            "hostIP": "10.88.0.1",
            "podIP": self.pod_ip,
            "startTime": stamp(now - timedelta(seconds=30)),
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": stamp(now)},
                {
                    "type": "Ready",
                    "status": condition,
                    "lastTransitionTime": stamp(self._ready_changed),
                },
                {
                    "type": "ContainersReady",
                    "status": condition,
                    "lastTransitionTime": stamp(self._ready_changed),
                },
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp(now)},
            ],
            "containerStatuses": [
                {
                    "name": "webapp",
                    "image": "docker.io/library/flask-webapp:latest",
                    "imageID": "docker.io/library/flask-webapp@sha256:" + "a" * 64,
                    "containerID": None if waiting else self.container_id(),
                    "restartCount": restarts,
                    "ready": is_ready,
                    "started": waiting is None,
                    "state": state,
                    "lastState": {"terminated": last_terminated} if last_terminated else {},
                }
            ],
        }
        self.core.patch_namespaced_pod_status(self.pod_name, self.namespace, {"status": status})

    def confirm_deletion(self) -> None:
        """The kubelet's last word on a deleted Pod: its containers are stopped, remove it."""
        try:
            self.core.delete_namespaced_pod(self.pod_name, self.namespace, grace_period_seconds=0)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    def terminated(self, *, exit_code: int, reason: str) -> dict[str, Any]:
        """lastState.terminated for the container that is running now."""
        now = datetime.now(UTC)
        return {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": stamp(self._started),
            "finishedAt": stamp(now),
            "containerID": self.container_id(),
        }

    def event(
        self,
        reason: str,
        message: str,
        event_type: str = "Warning",
        field_path: str | None = "spec.containers{webapp}",
    ) -> str:
        """A new kubelet Event about the Pod's container (or, without `field_path`, about the
        Pod as a whole: a sandbox re-created, a failed mount); returns its name."""
        pod = self.pod()
        name = f"{self.pod_name}.{secrets.token_hex(8)}"
        now = stamp()
        about = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": self.pod_name,
            "namespace": self.namespace,
            "uid": pod["metadata"]["uid"],
        }
        self.core.create_namespaced_event(
            self.namespace,
            {
                "metadata": {"name": name, "namespace": self.namespace},
                "involvedObject": about | ({"fieldPath": field_path} if field_path else {}),
                "reason": reason,
                "message": message,
                "type": event_type,
                "source": {"component": "kubelet", "host": NODE},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "reportingComponent": "kubelet",
                "reportingInstance": NODE,
            },
        )
        return name

    def aggregate(self, name: str, count: int) -> None:
        """The API server merged a repeat into the Event: count grows, lastTimestamp moves."""
        self.core.patch_namespaced_event(
            name, self.namespace, {"count": count, "lastTimestamp": stamp()}
        )


LIVENESS_500 = "Liveness probe failed: HTTP probe failed with statuscode: 500"
KILLING = "Container webapp failed liveness probe, will be restarted"
