"""The traffic client's Pod: our webapp image running `python -m webapp.traffic`, sending
requests to its own HealthDemo's Service only. Pure.

It is not one of the HealthDemo's webapp Pods: it has no owner-UID label, so the Service never
selects it and the status never counts it as a replica; it is found by its own label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthdemo_operator import names, podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.observations import owner_uid

SUFFIX = "-traffic"
CONTAINER = "traffic"
PORT = 8080  # GET /counts
LINGER_SECONDS = (
    10.0  # deleted, it serves its final count this long at most (the operator reads every 2 s)
)
STATE_DIR = "/var/run/traffic"
LABEL = f"{names.GROUP}/traffic-for"  # the HealthDemo's UID
RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}


def pod_name(healthdemo_name: str) -> str:
    return healthdemo_name + SUFFIX


def build(healthdemo: HealthDemo, cluster_ip: str) -> dict[str, Any]:
    """The client Pod for a HealthDemo whose Service has `cluster_ip` (by address: a cluster
    without DNS still routes it)."""
    traffic = healthdemo.spec["traffic"]
    target = f"http://{cluster_ip}:{names.SERVICE_PORT}/work"
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(healthdemo.name),
            "namespace": healthdemo.namespace,
            "labels": {
                names.LABEL_NAME: "healthdemo-traffic",
                names.LABEL_MANAGED_BY: names.COMPONENT,
                LABEL: healthdemo.uid,
            },
            "annotations": {names.ANNOTATION_GENERATION: str(healthdemo.generation)},
            "ownerReferences": [podspec.owner(healthdemo)],
        },
        "spec": {
            "restartPolicy": "Always",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": podspec.POD_SECURITY,
            "containers": [
                {
                    "name": CONTAINER,
                    "image": healthdemo.spec["image"],
                    "imagePullPolicy": healthdemo.spec["imagePullPolicy"],
                    "command": ["python", "-m", "webapp.traffic"],
                    "env": [
                        {"name": "TRAFFIC_TARGET", "value": target},
                        {"name": "TRAFFIC_RATE", "value": f"{traffic['ratePerSecond']:g}"},
                        {
                            "name": "TRAFFIC_TIMEOUT_SECONDS",
                            "value": f"{traffic['timeoutSeconds']:g}",
                        },
                        {"name": "TRAFFIC_STATE", "value": f"{STATE_DIR}/counts.json"},
                        {"name": "PORT", "value": str(PORT)},
                        {"name": "TRAFFIC_REQUESTS", "value": str(traffic.get("requests") or 0)},
                        # Deleted, it serves its final count until the operator reads it.
                        {"name": "TRAFFIC_LINGER_SECONDS", "value": f"{LINGER_SECONDS:g}"},
                    ],
                    "ports": [{"name": "counts", "containerPort": PORT, "protocol": "TCP"}],
                    "volumeMounts": [{"name": "state", "mountPath": STATE_DIR}],
                    "resources": RESOURCES,
                    "securityContext": podspec.CONTAINER_SECURITY,
                }
            ],
            # Its counts outlive its own restarts (not the Pod's): the operator reads them often.
            "volumes": [{"name": "state", "emptyDir": {"sizeLimit": "1Mi"}}],
        },
    }
    pod["metadata"]["annotations"][names.ANNOTATION_DIGEST] = podspec.digest(pod)
    return pod


@dataclass(frozen=True, slots=True)
class ClientView:
    """The traffic client's Pod as the watch shows it."""

    uid: str
    name: str
    owner_uid: str | None
    digest: str | None  # of the spec we built (podspec.digest): another means rebuild it
    ip: str | None
    running: bool
    deleting: bool


def client_view(raw: Mapping[str, Any]) -> ClientView:
    meta = raw.get("metadata") or {}
    status = raw.get("status") or {}
    running = any(
        "running" in (c.get("state") or {}) for c in status.get("containerStatuses") or []
    )
    return ClientView(
        uid=meta.get("uid", ""),
        name=meta.get("name", ""),
        owner_uid=owner_uid(meta),
        digest=(meta.get("annotations") or {}).get(names.ANNOTATION_DIGEST),
        ip=status.get("podIP") or None,
        running=running,
        deleting=bool(meta.get("deletionTimestamp")),
    )
