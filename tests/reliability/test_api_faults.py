"""API faults between the operator and the real API server: it never crashes, never stops
reacting, and the status converges to the truth once the faults stop."""

from __future__ import annotations

import time
from typing import Any

import pytest
from healthdemo_sandbox.controlplane import ControlPlane
from kubernetes import client

from ..conftest import eventually
from ..healthdemo_operator.kubelet_actor import KILLING, LIVENESS_500, KubeletActor
from ..healthdemo_operator.test_operator import apply, read_pod, sample, status
from .conftest import Proxied
from .faultproxy import Rule

pytestmark = pytest.mark.controlplane


def test_operator_survives_api_faults_and_converges(
    proxied_operator: Proxied, installed: ControlPlane, namespace: str
) -> None:
    proxy, operator = proxied_operator.proxy, proxied_operator.operator
    core = client.CoreV1Api(installed.api_client())
    custom = client.CustomObjectsApi(installed.api_client())
    status_path = rf"/namespaces/{namespace}/healthdemos/demo/status"

    def recorded() -> dict[str, Any]:
        return status(custom, namespace)

    apply(installed, sample(namespace))
    eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    kubelet = KubeletActor(core, namespace, "demo-webapp")
    kubelet.run_container()
    eventually(lambda: recorded().get("phase") == "Running", what="Running")

    # 500s on the status write: the controller backs off, re-reads, and writes once it can.
    with proxy.fault(Rule("PATCH", status_path, status=500, times=4)) as rule:
        unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
        kubelet.aggregate(unhealthy, 2)
        eventually(lambda: rule.hits >= 4, what="four 500s served")
    eventually(lambda: recorded().get("probeFailures") == 2, what="2 failures after 500s")

    # 409 Conflict on the status write.
    with proxy.fault(Rule("PATCH", status_path, status=409, times=3)) as rule:
        kubelet.aggregate(unhealthy, 3)
        eventually(lambda: rule.hits >= 3, what="three 409s served")
    eventually(lambda: recorded().get("probeFailures") == 3, what="3 failures after 409s")

    # 429 Too Many Requests, with Retry-After, on Pod creation for a second HealthDemo.
    pods_path = rf"/api/v1/namespaces/{namespace}/pods(\?|$)"
    with proxy.fault(Rule("POST", pods_path, status=429, times=3, retry_after=1)) as rule:
        apply(installed, sample(namespace, name="second"))
        eventually(lambda: rule.hits >= 3, what="three 429s served")
    eventually(lambda: read_pod(core, namespace, "second-webapp"), what="the Pod after 429s")

    # 410 Gone on the Event and Pod watches (once re-established): Kopf must list again.
    with proxy.fault(Rule("GET", r"/(events|pods)\?.*watch=(true|1)", status=410, times=4)):
        proxy.cut_all_watches()
        eventually(lambda: proxy.log.injected.get(410, 0) >= 2, what="410s served")
        kubelet.event("Killing", KILLING, event_type="Normal")
        kubelet.run_container(
            restarts=1, last_terminated=kubelet.terminated(exit_code=0, reason="Completed")
        )
        eventually(lambda: recorded().get("restarts") == 1, timeout=60, what="restart after 410s")
    assert recorded()["lastRestartReason"] == "LivenessProbe"

    # Watch streams cut mid-flight, again and again, while the app crashes twice.
    for restarts in (2, 3):
        eventually(lambda: proxy.open_watches() >= 3, what="the watches re-established")
        assert proxy.cut_all_watches() >= 3
        kubelet.run_container(
            restarts=restarts, last_terminated=kubelet.terminated(exit_code=1, reason="Error")
        )
        time.sleep(0.3)
        proxy.cut_all_watches()  # and again, while Kopf is relisting
    final = eventually(
        lambda: (s := recorded()).get("restarts") == 3 and s, timeout=60, what="restarts after cuts"
    )

    # The faults have stopped: the truth, exactly, and the operator still alive and reacting.
    assert final["probeFailures"] == 3
    assert [h["reason"] for h in final["history"]] == ["Crash", "Crash", "LivenessProbe"]
    assert operator.proc is not None and operator.proc.poll() is None
    assert operator.health() is not None
    kubelet.aggregate(unhealthy, 4)
    eventually(lambda: recorded().get("probeFailures") == 4, what="a change after the faults")
    assert {500, 409, 429, 410} <= set(proxy.log.injected)
