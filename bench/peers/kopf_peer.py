"""A minimal Kopf peer of the HealthDemo operator, written like Kopf's own examples.

One idea: a HealthDemo gets a Pod `<name>-webapp`, and the Pod's container restarts are
written to the HealthDemo's `status.restarts`. Nothing else.

Run:  python -m kopf run --standalone --all-namespaces bench/peers/kopf_peer.py
"""

from __future__ import annotations

from typing import Any

import kopf
import kubernetes

LABEL = "bench.demo.example.com/healthdemo"  # the owner's name, so we can watch our Pods


@kopf.on.create("demo.example.com", "v1", "healthdemos")
def create_fn(name: str, namespace: str | None, **_: Any) -> dict[str, str]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-webapp", "labels": {LABEL: name}},
        "spec": {
            "containers": [
                {
                    "name": "webapp",
                    "image": "flask-webapp:latest",
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 5000}],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 5000}},
                }
            ]
        },
    }
    kopf.adopt(pod)

    api = kubernetes.client.CoreV1Api()
    obj = api.create_namespaced_pod(namespace=namespace, body=pod)
    return {"pod": obj.metadata.name}


@kopf.on.event("v1", "pods", labels={LABEL: kopf.PRESENT})
def pod_event_fn(
    type: str | None,
    status: kopf.Status,
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    if type == "DELETED":
        return
    for container in status.get("containerStatuses") or []:
        if container["name"] == "webapp" and memo.get("restarts") != container["restartCount"]:
            api = kubernetes.client.CustomObjectsApi()
            api.patch_namespaced_custom_object_status(
                "demo.example.com", "v1", namespace, "healthdemos", labels[LABEL],
                {"status": {"restarts": container["restartCount"]}},
            )  # fmt: skip
            memo["restarts"] = container["restartCount"]
