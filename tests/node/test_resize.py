"""The resize lesson on the real node: a change of spec.resources alone resizes the running Pod in
place (pods/resize); a memory change with resizePolicy RestartContainer makes the kubelet
restart the container, a cpu change with NotRequired does not. The kubelet's own Pod status
(same UID, restartCount, the resources it applied) and its Events are the truth."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..conftest import eventually
from .conftest import Cluster
from .test_e2e import Demo, kubelet_events, kubelet_liveness_failures, start_demo

pytestmark = pytest.mark.node

POLICY = [
    {"resourceName": "memory", "restartPolicy": "RestartContainer"},
    {"resourceName": "cpu", "restartPolicy": "NotRequired"},
]
RESOURCES = {"requests": {"cpu": "10m", "memory": "48Mi"}, "limits": {"memory": "256Mi"}}


def patch(demo: Demo, resources: dict[str, Any]) -> None:
    body = json.dumps({"spec": {"resources": resources}})
    demo.cluster.kubectl(
        "patch", "healthdemo", demo.name, "-n", demo.namespace, "--type=merge", "-p", body
    )


def applied(demo: Demo) -> dict[str, Any]:
    """The resources the kubelet says the container runs with."""
    result: dict[str, Any] = demo.container_status().get("resources") or {}
    return result


def test_a_memory_resize_restarts_the_container_and_a_cpu_resize_does_not(
    deployed: Cluster, namespace: str
) -> None:
    demo = start_demo(deployed, namespace, "resize", resources=RESOURCES, resizePolicy=POLICY)
    uid = demo.pod()["metadata"]["uid"]
    demo.healthy_to_the_kubelet()

    patch(demo, {"limits": {"memory": "320Mi"}})
    resized = demo.until(lambda s: s.get("restarts") == 1, "the resize's restart")
    # What the kubelet did: the same Pod, its container restarted once, the new limit applied.
    assert demo.pod()["metadata"]["uid"] == uid
    assert demo.container_status()["restartCount"] == 1
    eventually(
        lambda: applied(demo).get("limits", {}).get("memory") == "320Mi",
        what="the kubelet applied 320Mi",
    )
    assert any("resize requires restart" in e["message"] for e in kubelet_events(demo, "Killing"))
    # What the operator recorded.
    item = resized["history"][0]
    assert (item["reason"], item["evidence"]) == ("Resize", "KillingEvent")
    assert resized["restartReasons"] == {"Resize": 1}
    # The new container may fail a probe before it listens: whatever the kubelet counted.
    eventually(
        lambda: demo.status()["probeFailures"] == kubelet_liveness_failures(demo),
        what="the liveness failures the kubelet counted",
    )

    patch(demo, {"requests": {"cpu": "20m"}})
    eventually(
        lambda: applied(demo).get("requests", {}).get("cpu") == "20m",
        what="the kubelet applied cpu 20m",
    )
    eventually(
        lambda: demo.pod()["metadata"]["annotations"]["demo.example.com/generation"] == "3",
        what="the Pod marked as built from generation 3",
    )
    assert demo.pod()["metadata"]["uid"] == uid
    assert demo.container_status()["restartCount"] == 1  # NotRequired: no restart
    assert demo.status()["restarts"] == 1
