"""API faults between the operator and the real API server: it never crashes, never stops
reacting, never counts twice, and the status converges to the truth — on both of its sources,
the kubelet's Events and its probe counters (the Pods run on a stand-in kubelet's Node) — once
the faults stop."""

from __future__ import annotations

import time
from typing import Any

import pytest
from healthdemo_operator.informer import IDLE_SECONDS
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.kubeletstandin import KubeletStandIn
from kubernetes import client

from ..conftest import eventually
from ..healthdemo_operator.kubelet_actor import KILLING, LIVENESS_500, KubeletActor
from ..healthdemo_operator.test_operator import apply, counts_complete, read_pod, sample, status
from .conftest import Proxied
from .faultproxy import Rule

pytestmark = pytest.mark.controlplane


def test_operator_survives_api_faults_and_converges(
    proxied_operator: Proxied, installed: ControlPlane, namespace: str, kubelet_node: KubeletStandIn
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
    kubelet.place(kubelet_node)
    kubelet.run_container()
    eventually(lambda: recorded().get("phase") == "Running", what="Running")

    # 500s on the status write: the controller backs off, re-reads, and writes once it can.
    with proxy.fault(Rule("PATCH", status_path, status=500, times=4)) as rule:
        unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
        kubelet.liveness_failed(unhealthy, 2)
        eventually(lambda: rule.hits >= 4, what="four 500s served")
    eventually(lambda: recorded().get("probeFailures") == 2, what="2 failures after 500s")

    # 409 Conflict on the status write.
    with proxy.fault(Rule("PATCH", status_path, status=409, times=3)) as rule:
        kubelet.liveness_failed(unhealthy, 3)
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
    assert counts_complete(final) == ("True", "Exact"), final["conditions"]
    assert [h["reason"] for h in final["history"]] == ["Crash", "Crash", "LivenessProbe"]
    assert operator.proc is not None and operator.proc.poll() is None
    assert operator.health() is not None
    kubelet.aggregate(unhealthy, 4)
    kubelet.counted(9)  # past the Events: the counter is the truth
    after = eventually(
        lambda: (s := recorded()).get("probeFailures") == 9 and s, what="a change after the faults"
    )
    assert counts_complete(after) == ("True", "Exact")
    assert {500, 409, 429, 410} <= set(proxy.log.injected)


def test_lost_and_late_answers_never_count_twice(
    proxied_operator: Proxied, installed: ControlPlane, namespace: str, kubelet_node: KubeletStandIn
) -> None:
    """The faults that can double-count: a write that lands while the client sees it fail (its
    answer lost, or coming after the client gave up), and a watch that goes silent without
    closing."""
    proxy = proxied_operator.proxy
    core = client.CoreV1Api(installed.api_client())
    custom = client.CustomObjectsApi(installed.api_client())
    status_path = rf"/namespaces/{namespace}/healthdemos/demo/status"
    seen: list[dict[str, Any]] = []

    def recorded() -> dict[str, Any]:
        seen.append(status(custom, namespace))
        return seen[-1]

    # The Pod create lands, its answer is lost: the retry finds our own Pod, and uses it.
    pods_path = rf"/api/v1/namespaces/{namespace}/pods(\?|$)"
    with proxy.fault(Rule("POST", pods_path, lose_response=True, times=1)) as lost:
        apply(installed, sample(namespace))
        eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
        eventually(lambda: recorded().get("phase") == "Pending", what="Pending")
    assert lost.hits == 1
    assert len(core.list_namespaced_pod(namespace).items) == 1
    kubelet = KubeletActor(core, namespace, "demo-webapp")
    kubelet.place(kubelet_node)
    kubelet.run_container()
    eventually(lambda: recorded().get("phase") == "Running", what="Running")

    # Status writes land, their answers are lost, twice: failures, then a restart, once each.
    unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
    with proxy.fault(Rule("PATCH", status_path, lose_response=True, times=2)) as lost:
        kubelet.liveness_failed(unhealthy, 2)
        eventually(lambda: lost.hits >= 1, what="a status answer lost")
        kubelet.liveness_failed(unhealthy, 3)
        kubelet.event("Killing", KILLING, event_type="Normal")
        kubelet.run_container(
            restarts=1, last_terminated=kubelet.terminated(exit_code=0, reason="Completed")
        )
        eventually(lambda: lost.hits >= 2, what="two status answers lost")
    once = eventually(
        lambda: (s := recorded()).get("restarts") == 1 and s.get("probeFailures") == 3 and s,
        what="the restart and 3 failures, once",
    )
    assert [h["reason"] for h in once["history"]] == ["LivenessProbe"]

    # An Event the operator posts lands, its answer is lost: it is not posted again.
    events_path = rf"/api/v1/namespaces/{namespace}/events$"
    with proxy.fault(Rule("POST", events_path, lose_response=True, times=1)) as lost:
        kubelet.run_container(
            restarts=2, last_terminated=kubelet.terminated(exit_code=1, reason="Error")
        )
        eventually(lambda: recorded().get("restarts") == 2, what="a crash recorded")
        eventually(lambda: lost.hits == 1, what="an Event's answer lost")
    posted = [
        e
        for e in core.list_namespaced_event(namespace).items
        if e.involved_object.kind == "HealthDemo" and e.reason == "Restarted"
    ]
    # Restart 2's Event once. (Restart 1's was never posted: its status write landed but was
    # seen to fail, and the fresh read it was retried from already held the restart.)
    crashed = [e for e in posted if "restarts now 2" in e.message]
    assert [e.count or 1 for e in crashed] == [1], [e.message for e in posted]

    # A status write answered only after the client gave up (its read timeout): the retry,
    # from a fresh read, writes; the late one then lands on a newer version and is refused.
    with proxy.fault(Rule("PATCH", status_path, delay=25, times=1)) as late:
        kubelet.liveness_failed(unhealthy, 4)
        eventually(lambda: late.hits == 1, what="a status write held")
        eventually(lambda: recorded().get("probeFailures") == 4, timeout=60, what="4 failures")
        time.sleep(26 - 20)  # until the held write has landed (or been refused)
    assert recorded()["probeFailures"] == 4

    # The Pod watch goes silent, its connection open: the operator must notice on its own.
    watch_path = r"^/api/v1/pods\?.*watch=(true|1)"
    with proxy.fault(Rule("GET", watch_path, silence=True, times=1)) as silenced:
        proxy.cut_all_watches()
        eventually(lambda: silenced.hits == 1, what="the Pod watch silenced")
        kubelet.run_container(
            restarts=3, last_terminated=kubelet.terminated(exit_code=1, reason="Error")
        )
        started = time.monotonic()
        eventually(
            lambda: recorded().get("restarts") == 3,
            timeout=IDLE_SECONDS + 25,
            what="the restart, after the silent watch was given up",
        )
    print(f"restart seen {time.monotonic() - started:.1f} s after a Pod watch went silent")

    totals = [(s.get("restarts", 0), s.get("probeFailures", 0)) for s in seen]
    assert [t[0] for t in totals] == sorted(t[0] for t in totals), f"restarts went down: {totals}"
    assert [t[1] for t in totals] == sorted(t[1] for t in totals), f"failures went down: {totals}"
    assert counts_complete(seen[-1]) == ("True", "Exact")
