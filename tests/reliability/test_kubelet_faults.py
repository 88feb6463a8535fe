"""The exact path under faults: the kubelet's probe counters (a stand-in kubelet, authorizing as
a real one does) failing with 5xx, resets and hangs, refusing, restarting with its counters at
zero, and Pods gone before their final count. The status never counts twice, never shows a
number as exact that is not, names each lower bound, and a hung kubelet delays no status that
does not need its counters."""

from __future__ import annotations

import time
from typing import Any

import pytest
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.kubeletstandin import Fault, KubeletStandIn
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import eventually
from ..healthdemo_operator.kubelet_actor import LIVENESS_500, KubeletActor
from ..healthdemo_operator.test_operator import apply, counts_complete, read_pod, sample, status

pytestmark = pytest.mark.controlplane

READ_TIMEOUT = 5  # the operator's kubelet read (kube.Kube.kubelet_get)


def placed(
    installed: ControlPlane, namespace: str, name: str, node: KubeletStandIn
) -> KubeletActor:
    """A HealthDemo whose Pod runs on the stand-in's Node."""
    core = client.CoreV1Api(installed.api_client())
    apply(installed, sample(namespace, name=name))
    eventually(lambda: read_pod(core, namespace, f"{name}-webapp"), what=f"{name}'s Pod")
    kubelet = KubeletActor(core, namespace, f"{name}-webapp")
    kubelet.place(node)
    kubelet.run_container()
    return kubelet


def watch(
    installed: ControlPlane, namespace: str, name: str = "demo"
) -> tuple[list[dict[str, Any]], Any]:
    """Every status read by `until`, so that a test can check no total ever went down."""
    custom = client.CustomObjectsApi(installed.api_client())
    seen: list[dict[str, Any]] = []

    def until(check: Any, what: str, timeout: float = 30) -> dict[str, Any]:
        def read() -> dict[str, Any] | None:
            s = status(custom, namespace, name)
            seen.append(s)
            return s if check(s) else None

        try:
            result: dict[str, Any] = eventually(read, timeout=timeout, what=what)
        except AssertionError as exc:
            last = {k: seen[-1].get(k) for k in ("probeFailures", "conditions")} if seen else {}
            raise AssertionError(f"{exc}; the last status: {last}") from None
        return result

    return seen, until


def status_now(installed: ControlPlane, namespace: str, name: str = "demo") -> dict[str, Any]:
    return status(client.CustomObjectsApi(installed.api_client()), namespace, name)


def reason_and_message(recorded: dict[str, Any]) -> tuple[str, str]:
    found = next(c for c in recorded["conditions"] if c["type"] == "CountsComplete")
    return found["reason"], found["message"]


def test_kubelet_faults_are_said_and_healed_without_counting_twice(
    operator: LocalOperator, installed: ControlPlane, namespace: str, kubelet_node: KubeletStandIn
) -> None:
    seen, until = watch(installed, namespace)
    kubelet = placed(installed, namespace, "demo", kubelet_node)
    unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
    kubelet.aggregate(unhealthy, 2)
    kubelet.counted(2)
    until(lambda s: s.get("probeFailures") == 2 and counts_complete(s) == ("True", "Exact"), "2")

    # A failing kubelet: while it cannot be read, the status says the count is a lower bound,
    # and why; the failures it counted meanwhile are all there once it answers again.
    faults: list[tuple[Fault, int]] = [(500, 4), ("reset", 6), ("hang", 8)]
    for fault, total in faults:
        kubelet_node.fail_with(fault)
        kubelet.counted(total)
        unreadable = until(
            lambda s: counts_complete(s) == ("False", "KubeletUnreadable"),
            f"KubeletUnreadable ({fault})",
        )
        assert kubelet_node.name in reason_and_message(unreadable)[1]
        assert unreadable["probeFailures"] == total - 2  # the last exact count
        kubelet_node.fail_with(None)
        until(
            lambda s, total=total: (
                s.get("probeFailures") == total and counts_complete(s) == ("True", "Exact")
            ),
            f"{total} failures, exact again after {fault}",
        )

    # The kubelet restarted: its counters start again from zero. What it counts from then on
    # is added, and the status says failures may be missing (between the last read and the
    # restart), for good.
    kubelet_node.restart()
    kubelet.counted(1)
    reset = until(lambda s: s.get("probeFailures") == 9, "8 + 1 after the counters' reset")
    reason, message = reason_and_message(reset)
    assert reason == "KubeletCountersReset"
    assert "restarted" in message and kubelet_node.name in message
    kubelet.counted(3)
    until(lambda s: s.get("probeFailures") == 11, "8 + 3")

    totals = [s.get("probeFailures", 0) for s in seen]
    assert totals == sorted(totals), f"a total went down: {totals}"


def test_a_hung_kubelet_delays_no_status_that_needs_none_of_its_counters(
    operator: LocalOperator, installed: ControlPlane, namespace: str, kubelet_node: KubeletStandIn
) -> None:
    _, until = watch(installed, namespace, "first")
    first = placed(installed, namespace, "first", kubelet_node)
    first.counted(1)
    until(lambda s: s.get("probeFailures") == 1 and s.get("phase") == "Running", "read once")

    kubelet_node.fail_with("hang")
    core = client.CoreV1Api(installed.api_client())
    apply(installed, sample(namespace, name="second"))
    eventually(lambda: read_pod(core, namespace, "second-webapp"), what="second's Pod")
    second = KubeletActor(core, namespace, "second-webapp")
    second.place(kubelet_node)
    started = time.monotonic()
    second.run_container()
    _, until_second = watch(installed, namespace, "second")
    until_second(lambda s: s.get("phase") == "Running", "second Running")
    # Before a read of the hung kubelet could have given up: nothing waited for it.
    assert time.monotonic() - started < READ_TIMEOUT
    until_second(
        lambda s: counts_complete(s) == ("False", "KubeletUnreadable"), "second: unreadable"
    )
    kubelet_node.fail_with(None)
    until_second(lambda s: counts_complete(s) == ("True", "Exact"), "second: exact")


def test_refusals_say_what_to_do(
    operator: LocalOperator, installed: ControlPlane, namespace: str, kubelet_node: KubeletStandIn
) -> None:
    _, until = watch(installed, namespace)
    placed(installed, namespace, "demo", kubelet_node)
    until(lambda s: counts_complete(s) == ("True", "Exact"), "exact")
    # The real authorization said yes to the operator's own token: nothing was refused.
    assert kubelet_node.refused == []
    for refusal, says in (
        (403, "grant `get` on `nodes/metrics`"),
        (401, "authentication.webhook must be enabled"),
    ):
        kubelet_node.fail_with(refusal)
        refused = until(
            lambda s, says=says: says in reason_and_message(s)[1], f"{refusal} explained"
        )
        assert counts_complete(refused) == ("False", "KubeletUnreadable")
    kubelet_node.fail_with(None)
    until(lambda s: counts_complete(s) == ("True", "Exact"), "exact again")


def test_a_pod_gone_before_its_final_count_is_a_named_lower_bound(
    operator: LocalOperator, installed: ControlPlane, namespace: str, kubelet_node: KubeletStandIn
) -> None:
    _, until = watch(installed, namespace)
    kubelet = placed(installed, namespace, "demo", kubelet_node)
    kubelet.counted(2)
    until(lambda s: s.get("probeFailures") == 2, "2 failures")
    kubelet_node.fail_with(500)
    until(lambda s: counts_complete(s)[1] == "KubeletUnreadable", "unreadable")
    old = kubelet.uid
    kubelet.confirm_deletion()  # gone at once, as a force delete does
    missed = until(lambda s: reason_and_message(s)[0] == "FinalCountMissed", "FinalCountMissed", 60)
    assert old in reason_and_message(missed)[1]
    assert missed["probeFailures"] == 2
    kubelet_node.fail_with(None)
    # Its replacement has no node yet: nothing unreadable, and the lost count stays said.
    time.sleep(READ_TIMEOUT + 1)
    assert reason_and_message(status_now(installed, namespace))[0] == "FinalCountMissed"


def test_a_pod_gone_while_the_operator_was_down_is_a_named_lower_bound(
    operator: LocalOperator, installed: ControlPlane, namespace: str, kubelet_node: KubeletStandIn
) -> None:
    _, until = watch(installed, namespace)
    kubelet = placed(installed, namespace, "demo", kubelet_node)
    kubelet.counted(1)
    until(lambda s: s.get("probeFailures") == 1, "1 failure")
    old = kubelet.uid
    operator.kill()
    kubelet.confirm_deletion()
    operator.start()
    unseen = until(lambda s: reason_and_message(s)[0] == "PodGoneUnseen", "PodGoneUnseen", 60)
    assert old in reason_and_message(unseen)[1]
    assert unseen["probeFailures"] == 1
