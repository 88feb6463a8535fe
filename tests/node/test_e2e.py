"""The seed's demo, end to end, on the real node: the operator runs in the cluster from its own
image; the real kubelet probes the real webapp; both what the kubelet did and what the operator
recorded are checked. Fast probes (period 1 s) keep each story to seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ..conftest import WebappClient, eventually
from .conftest import Cluster
from .exact_counts import kubelet_failures

pytestmark = pytest.mark.node

FAST = {"periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 2}


@dataclass
class Demo(WebappClient):
    """One HealthDemo and its webapp, reached at its Pod IP from this host."""

    cluster: Cluster
    namespace: str
    name: str
    url: str = ""

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = (
            self.cluster.get("healthdemo", self.name, self.namespace).get("status") or {}
        )
        return result

    def until(
        self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> dict[str, Any]:
        return eventually(
            lambda: (s := self.status()) and check(s) and s, timeout=timeout, what=what
        )

    def pod(self) -> dict[str, Any]:
        return self.cluster.get("pod", f"{self.name}-webapp", self.namespace)

    def container_status(self) -> dict[str, Any]:
        (status,) = self.pod()["status"]["containerStatuses"]
        result: dict[str, Any] = status
        return result


def start_demo(cluster: Cluster, namespace: str, name: str, **spec: Any) -> Demo:
    body = {
        "apiVersion": "demo.example.com/v1",
        "kind": "HealthDemo",
        "metadata": {"name": name},
        "spec": {"livenessProbe": dict(FAST), **spec},
    }
    cluster.apply(body, namespace)
    if spec.get("image", "flask-webapp:latest") == "flask-webapp:latest":
        return running(cluster, namespace, name)
    return Demo(cluster, namespace, name)


def running(cluster: Cluster, namespace: str, name: str) -> Demo:
    """The applied HealthDemo once it runs and its webapp answers at the Pod's IP."""
    demo = Demo(cluster, namespace, name)
    demo.until(lambda s: s.get("phase") == "Running", f"{name} Running")
    pod = cluster.wait_ready(f"{name}-webapp", namespace)
    demo.url = f"http://{pod['status']['podIP']}:5000"
    assert demo.first_answer("/healthz") == (200, {"status": "ok"})
    return demo


def kubelet_events(demo: Demo, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in demo.cluster.events(f"{demo.name}-webapp", demo.namespace)
        if e["reason"] == reason and e["source"].get("component") == "kubelet"
    ]


def kubelet_liveness_failures(demo: Demo) -> int:
    return kubelet_failures(demo.cluster, demo.pod()["metadata"]["uid"], "Liveness")


def test_start_failing_is_healed_and_recorded(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "seed")
    bystander = start_demo(deployed, namespace, "bystander")
    # A new container's first probe may find the app not listening yet: the kubelet counts
    # that failure too. The bystander's count from here on must not move.
    bystander.healthy_to_the_kubelet()
    bystander_failed = kubelet_liveness_failures(bystander)
    assert demo.call("/start-failing", method="POST")[0] == 200

    healed = demo.until(
        lambda s: s.get("restarts") == 1 and s["history"][0].get("recoverySeconds") is not None,
        "the restart recorded, with its recovery time",
    )
    # What the kubelet did.
    container = demo.container_status()
    assert container["restartCount"] == 1
    assert container["lastState"]["terminated"]["exitCode"] == 0  # SIGTERM → clean exit
    unhealthy = kubelet_events(demo, "Unhealthy")
    assert any(
        e["message"].startswith("Liveness probe failed: HTTP probe failed") for e in unhealthy
    )
    assert any("failed liveness probe" in e["message"] for e in kubelet_events(demo, "Killing"))
    # What the operator recorded.
    assert healed["lastRestartReason"] == "LivenessProbe"
    assert healed["probeFailures"] >= FAST["failureThreshold"]
    (item,) = healed["history"]
    assert item["reason"] == "LivenessProbe"
    assert item["probeFailures"] >= FAST["failureThreshold"]
    assert 0 < item["recoverySeconds"] < 30
    assert healed["kubeletRoute"] == "Kubelet"  # in the cluster: the kubelet's own port
    # The new container is healthy; the other HealthDemo was not disturbed.
    eventually(lambda: demo.call("/healthz")[0] == 200, what="the new container healthy")
    assert demo.call("/")[1]["liveness"]["healthy"] is True
    assert bystander.status()["restarts"] == 0
    assert bystander.status()["probeFailures"] == bystander_failed
    assert kubelet_liveness_failures(bystander) == bystander_failed

    # The table: Running again once no failure is fresh (the new container's first probe may
    # have been refused: Failing for 2 periods + a timeout), with every failure the kubelet saw.
    def seed_row() -> dict[str, str] | None:
        header, *rows = deployed.kubectl("get", "healthdemos", "-n", namespace).stdout.splitlines()
        cells = next(r.split() for r in rows if r.startswith("seed "))
        row = dict(zip(header.split(), cells, strict=False))  # the columns this test reads
        return row if row["PHASE"] == "Running" else None

    row = eventually(seed_row, 15, "the seed Running again in kubectl get healthdemos")
    assert (row["POD"], row["READY"], row["RESTARTS"]) == ("seed-webapp", "1/1", "1")
    assert int(row["PROBE-FAILURES"]) == kubelet_liveness_failures(demo)

    # The operator's log: the seed's story in a handful of lines, each naming the HealthDemo
    # (the Pod created, the restart with its cause), and none of Kopf's per-handler lines.
    said = deployed.kubectl("logs", "deployment/healthdemo-operator", "-n", "healthdemo-system")
    ours = [line for line in said.stdout.splitlines() if f"{namespace}/seed:" in line]
    assert any("created Pod seed-webapp" in line for line in ours), said.stdout
    assert any("Restarted: Container restarted (LivenessProbe)" in line for line in ours), ours
    assert len(ours) <= 8, ours  # a handful: not one per watch event
    assert not any("Handler '" in line for line in said.stdout.splitlines()), said.stdout


def test_fail_next_below_the_threshold_does_not_restart(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(
        deployed, namespace, "forgiven", livenessProbe={**FAST, "failureThreshold": 3}
    )
    demo.healthy_to_the_kubelet()  # 2 failures in a row, not 3 with a slow start's timeout
    before = kubelet_liveness_failures(demo)  # a first probe may have found it not listening
    assert demo.call("/fail-next?count=2", method="POST")[1] == {"failNext": 2}
    demo.until(lambda s: s.get("probeFailures") == before + 2, f"{before + 2} probe failures")
    time.sleep(4)  # several more probe periods: a restart would have happened by now
    settled = demo.until(lambda s: s.get("phase") == "Running", "Running again")
    assert settled["restarts"] == 0
    assert settled["probeFailures"] == before + 2 == kubelet_liveness_failures(demo)
    assert demo.container_status()["restartCount"] == 0


def test_hang_past_the_timeout_restarts(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "hung")
    demo.call("/hang?seconds=5", method="POST")
    restarted = demo.until(lambda s: s.get("restarts") == 1, "a restart after timeouts")
    assert restarted["lastRestartReason"] == "LivenessProbe"
    assert "Liveness probe failed" in restarted["lastProbeFailureMessage"]
    assert (
        "Timeout" in restarted["lastProbeFailureMessage"]
        or "deadline" in restarted["lastProbeFailureMessage"]
    )


def test_crash_is_recorded_as_a_crash(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "crasher")
    assert demo.call("/crash", method="POST")[0] == 202
    crashed = demo.until(lambda s: s.get("restarts") == 1, "the crash recorded")
    assert crashed["lastRestartReason"] == "Crash"
    assert crashed["history"][0]["exitCode"] == 1
    assert demo.container_status()["lastState"]["terminated"]["exitCode"] == 1


def test_an_image_never_built_says_how_to_fix_it(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "unbuilt", image="never-built:latest")
    failed = demo.until(lambda s: s.get("phase") == "ImagePullError", "ImagePullError", timeout=90)
    healthy = {c["type"]: c for c in failed["conditions"]}["Healthy"]
    assert "minikube image build -t never-built:latest ." in healthy["message"]
    assert "kind load docker-image never-built:latest" in healthy["message"]


def test_readiness_off_is_not_ready_but_not_restarted(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(
        deployed, namespace, "shy", readinessProbe={"periodSeconds": 1, "failureThreshold": 1}
    )
    demo.call("/readyz/disable", method="POST")
    # Healthy follows liveness, which may fail once on its own on a loaded machine (1 s timeout)
    # and is forgiven: what readiness must never do is take Healthy with it, so both are read
    # together while readiness stays off.
    demo.until(
        lambda s: (
            (conditions := {c["type"]: c["status"] for c in s["conditions"]})["Ready"] == "False"
            and conditions["Healthy"] == "True"
        ),
        "Ready False while Healthy True",
    )
    time.sleep(3)
    assert demo.status()["restarts"] == 0
    assert demo.container_status()["restartCount"] == 0
    demo.call("/readyz/enable", method="POST")
    demo.until(
        lambda s: {c["type"]: c["status"] for c in s["conditions"]}.get("Ready") == "True",
        "Ready again",
    )


def test_the_operator_runs_in_cluster_as_its_service_account(deployed: Cluster) -> None:
    fields = "jsonpath={.items[0].spec.serviceAccountName} {.items[0].status.phase}"
    selector = "app.kubernetes.io/name=healthdemo-operator"
    pods = deployed.kubectl(
        "get", "pods", "-n", "healthdemo-system", "-l", selector, "-o", fields
    ).stdout.split()
    assert pods == ["healthdemo-operator", "Running"]
