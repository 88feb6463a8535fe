"""spec.replicas on the real node: two Pods with the same probes, each one's restarts counted in
the HealthDemo's totals and told per Pod, and scaling down that removes the last Pod and leaves
the other running (the same UID: not replaced). The kubelet's own Pod statuses are the truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ..conftest import WebappClient, eventually
from .conftest import Cluster
from .test_e2e import start_demo

pytestmark = pytest.mark.node

# A crashed container restarts at once and takes a moment to listen: three failures in a row at
# 2 s apart leave it that moment (the faster probes elsewhere would kill it a second time).
PATIENT = {"periodSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 3}


@dataclass
class Replica(WebappClient):
    """One replica's webapp, at its Pod's IP."""

    url: str


def kubelet_restarts(cluster: Cluster, name: str, namespace: str) -> int:
    (container,) = cluster.get("pod", name, namespace)["status"]["containerStatuses"]
    count: int = container["restartCount"]
    return count


def test_each_replica_is_a_pod_of_its_own_and_the_totals_count_them_all(
    deployed: Cluster, namespace: str
) -> None:
    demo = start_demo(deployed, namespace, "pair", replicas=2, livenessProbe=PATIENT)
    both = demo.until(lambda s: s.get("ready") == "2/2", "both Pods ready")
    assert [(p["name"], p["replica"], p["ready"]) for p in both["pods"]] == [
        ("pair-webapp", 0, True),
        ("pair-webapp-1", 1, True),
    ]
    first = deployed.get("pod", "pair-webapp", namespace)
    second = deployed.wait_ready("pair-webapp-1", namespace)
    # The same probes on both, as the spec says.
    probes = [p["spec"]["containers"][0]["livenessProbe"] for p in (first, second)]
    assert probes[0] == probes[1] and probes[0]["periodSeconds"] == PATIENT["periodSeconds"]

    # A crash of replica 1 alone: counted in the totals, and told as that Pod's.
    other = Replica(f"http://{second['status']['podIP']}:5000")
    assert other.call("/crash", method="POST")[0] == 202
    crashed = demo.until(lambda s: s.get("restarts") == 1, "replica 1's restart recorded")
    assert kubelet_restarts(deployed, "pair-webapp-1", namespace) == 1
    assert kubelet_restarts(deployed, "pair-webapp", namespace) == 0
    item = crashed["history"][0]
    assert (item["podName"], item["reason"]) == ("pair-webapp-1", "Crash")
    demo.until(
        lambda s: [p["restarts"] for p in s["pods"]] == [0, 1] and s["ready"] == "2/2",
        "pods tells whose restart it was, both ready again",
    )

    # Down to one replica: the last Pod goes, the first keeps running (not replaced).
    deployed.kubectl("patch", "healthdemo", "pair", "-n", namespace, "--type=merge",
                     "-p", '{"spec": {"replicas": 1}}')  # fmt: skip
    one = demo.until(
        lambda s: s.get("ready") == "1/1" and len(s.get("pods") or []) == 1
        and s.get("observedGeneration") == 2,
        "one replica left",
    )  # fmt: skip
    assert (
        deployed.get("pod", "pair-webapp", namespace)["metadata"]["uid"]
        == (first["metadata"]["uid"])
    )

    def removing() -> bool:
        """The operator deleted it (how soon the kubelet stops it is the kubelet's matter)."""
        found = deployed.kubectl("get", "pod", "pair-webapp-1", "-n", namespace, "-o",
                                 "jsonpath={.metadata.deletionTimestamp}", check=False)  # fmt: skip
        return "NotFound" in found.stderr or bool(found.stdout.strip())

    eventually(removing, what="Pod pair-webapp-1 deleted by the operator")
    assert one["restarts"] == 1 and one["history"][0]["podName"] == "pair-webapp-1"
    conditions = {c["type"]: c for c in one["conditions"]}
    assert conditions["CountsComplete"]["status"] == "True", conditions["CountsComplete"]
    marked: dict[str, Any] = deployed.get("pod", "pair-webapp", namespace)["metadata"]
    assert marked["annotations"]["demo.example.com/generation"] == "2"  # marked, not replaced
