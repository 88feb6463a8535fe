"""Every probe lesson on the real node: the kubelet does the probing (TCP, exec, gRPC, startup)
and the kernel does the OOM kill; the kubelet's own Pod status and Events are the truth the
operator's record is checked against."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import eventually
from .conftest import Cluster
from .exact_counts import kubelet_failures
from .test_e2e import FAST, Demo, kubelet_events, start_demo

pytestmark = pytest.mark.node

HANDLERS: dict[str, dict[str, Any]] = {
    "tcp": {"tcpSocket": {"port": 5001}},
    "exec": {"exec": {"command": ["python", "-m", "webapp.check", "liveness"]}},
    "grpc": {"grpc": {"port": 5003, "service": "liveness"}},
}
KUBELET_SAYS = {"tcp": "dial tcp", "exec": "", "grpc": "service unhealthy"}


@pytest.mark.parametrize("kind", list(HANDLERS))
def test_start_failing_breaks_every_kind_of_liveness_probe(
    deployed: Cluster, namespace: str, kind: str
) -> None:
    demo = start_demo(deployed, namespace, f"live-{kind}", livenessProbe={**FAST, **HANDLERS[kind]})
    probe = demo.pod()["spec"]["containers"][0]["livenessProbe"]
    assert {k: v for k, v in probe.items() if k in HANDLERS[kind]} == HANDLERS[kind]
    assert demo.call("/start-failing", method="POST")[0] == 200

    restarted = demo.until(lambda s: s.get("restarts") == 1, f"a {kind} liveness restart")
    # What the kubelet did.
    assert demo.container_status()["restartCount"] == 1
    assert any("failed liveness probe" in e["message"] for e in kubelet_events(demo, "Killing"))
    failed = [e["message"] for e in kubelet_events(demo, "Unhealthy")]
    assert any(m.startswith("Liveness probe failed") and KUBELET_SAYS[kind] in m for m in failed)
    # What the operator recorded.
    assert restarted["lastRestartReason"] == "LivenessProbe"
    item = restarted["history"][0]
    assert item["evidence"] == "Journal", (
        item,
        demo.container_status().get("lastState"),
        deployed.kubectl(
            "logs", "-n", namespace, demo.pod()["metadata"]["name"], "--previous"
        ).stdout,
    )
    # Measured next to the probe math: (failureThreshold - 1) x periodSeconds from the first
    # failed answer to the kill, give or take a period.
    assert item["expectedSeconds"] == restarted["expected"]["liveness"]["firstFailureToActSeconds"]
    assert item["expectedSeconds"] == (FAST["failureThreshold"] - 1) * FAST["periodSeconds"]
    # The journal's own clock: the kill comes one period after the first failed answer, plus
    # however long the kubelet and the runtime take to deliver the signal.
    expected, period = item["expectedSeconds"], FAST["periodSeconds"]
    if item.get("measuredSeconds") is None:
        # Where a failed probe never reached the app (its connect timed out on a busy node),
        # the journal's first failed answer is a later one: no measurement, and it says why;
        # the kubelet's own words name that failure.
        assert "never reached it" in (item.get("detail") or ""), (item, failed)
        assert any("timeout" in m or "connect" in m for m in failed), (item, failed)
        return
    assert expected - 0.5 <= item["measuredSeconds"] <= expected + period, (item, failed)


def create(cluster: Cluster, namespace: str, name: str, **spec: Any) -> Demo:
    body = {
        "apiVersion": "demo.example.com/v1",
        "kind": "HealthDemo",
        "metadata": {"name": name},
        "spec": spec,
    }
    cluster.apply(body, namespace)
    return Demo(cluster, namespace, name)


def test_a_slow_starter_without_a_startup_probe_is_killed_by_liveness(
    deployed: Cluster, namespace: str
) -> None:
    demo = create(deployed, namespace, "impatient", startupDelaySeconds=30, livenessProbe=FAST)
    killed = demo.until(lambda s: s.get("restarts", 0) >= 1, "killed while starting", 90)
    assert demo.container_status()["restartCount"] >= 1
    assert any("failed liveness probe" in e["message"] for e in kubelet_events(demo, "Killing"))
    assert killed["history"][-1]["reason"] == "LivenessProbe"
    assert killed["expected"]["startup"] == {
        "budgetSeconds": 2,
        "appStartsInSeconds": 30,
        "fitsBudget": False,
        "judgedBy": "livenessProbe",
    }


def test_a_startup_probe_lets_a_slow_starter_become_ready_without_a_restart(
    deployed: Cluster, namespace: str
) -> None:
    startup = {"periodSeconds": 1, "failureThreshold": 30}
    demo = create(
        deployed, namespace, "patient", startupDelaySeconds=6, livenessProbe=FAST,
        startupProbe=startup,
    )  # fmt: skip
    pod = deployed.wait_ready("patient-webapp", namespace, timeout=90)
    (container,) = pod["status"]["containerStatuses"]
    assert container["started"] is True
    assert container["restartCount"] == 0
    assert not kubelet_events(demo, "Killing")
    unhealthy = [e["message"] for e in kubelet_events(demo, "Unhealthy")]
    assert any(m.startswith("Startup probe failed") for m in unhealthy)  # while it started
    status = demo.until(lambda s: s.get("phase") == "Running", "Running")
    assert status["restarts"] == 0
    assert status["expected"]["startup"]["budgetSeconds"] == 30


def test_a_startup_probe_too_short_kills_and_says_so(deployed: Cluster, namespace: str) -> None:
    startup = {"periodSeconds": 1, "failureThreshold": 2, "tcpSocket": {"port": 5001}}
    demo = create(
        deployed, namespace, "rushed", startupDelaySeconds=60, livenessProbe=FAST,
        startupProbe=startup,
    )  # fmt: skip
    killed = demo.until(lambda s: s.get("restarts", 0) >= 1, "killed by the startup probe", 90)
    assert any("failed startup probe" in e["message"] for e in kubelet_events(demo, "Killing"))
    item = next(i for i in killed["history"] if i["restart"] == 1)
    assert (item["reason"], item["evidence"]) == ("StartupProbe", "Journal")
    assert item["probeFailures"] == 2
    # Measured from the runtime's start and end of that container (whole seconds, so give or
    # take one more), recorded while it was the newest: the next kill waits out a 10 s back-off.
    assert item["expectedSeconds"] == killed["expected"]["startup"]["budgetSeconds"] == 2
    assert abs(item["measuredSeconds"] - item["expectedSeconds"]) <= 1 + 1


def test_oom_is_killed_by_the_kernel_and_recorded(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "hungry", resources={"limits": {"memory": "128Mi"}})
    assert demo.call("/oom", method="POST")[0] == 202
    restarted = demo.until(lambda s: s.get("restarts") == 1, "an OOM restart")
    # What the kernel and the kubelet said.
    assert demo.container_status()["lastState"]["terminated"]["reason"] == "OOMKilled"
    # What the operator recorded.
    assert restarted["lastRestartReason"] == "OOMKilled"
    assert restarted["history"][0]["reason"] == "OOMKilled"


def ready_condition(demo: Demo) -> dict[str, Any]:
    conditions = demo.pod()["status"]["conditions"]
    found: dict[str, Any] = next(c for c in conditions if c["type"] == "Ready")
    return found


def test_readiness_fail_next_below_and_above_its_threshold(
    deployed: Cluster, namespace: str
) -> None:
    demo = start_demo(deployed, namespace, "ready", readinessProbe=FAST)
    uid = demo.pod()["metadata"]["uid"]
    ready_since = ready_condition(demo)["lastTransitionTime"]

    def failed() -> int:
        return kubelet_failures(deployed, uid, "Readiness")

    # Probed from the container's start, readiness may fail before the app listens (a slow
    # start): those failures are the kubelet's too. Once Ready no probe fails unless we ask.
    before = failed()

    # 1 < failureThreshold 2: the kubelet sees the failure, and the Pod never leaves service.
    assert demo.call("/readyz/fail-next?count=1", method="POST")[0] == 200
    eventually(lambda: failed() == before + 1, 30, "the kubelet's failed readiness probe")
    status = demo.until(
        lambda s: s.get("readinessFailures") == before + 1, f"{before + 1} readiness failures"
    )
    assert ready_condition(demo) == {**ready_condition(demo), "status": "True"}
    assert ready_condition(demo)["lastTransitionTime"] == ready_since
    assert status["restarts"] == 0

    # 4 >= 2: out of service after the second failure, back after the next success.
    assert demo.call("/readyz/fail-next?count=4", method="POST")[0] == 200
    # It left service and came back: Ready moved twice, whenever this test happened to look.
    eventually(lambda: failed() == before + 5, 30, "the kubelet's 4 more failed readiness probes")
    back = eventually(
        lambda: (
            (c := ready_condition(demo))["status"] == "True"
            and c["lastTransitionTime"] != ready_since
            and c
        ),
        30,
        "ready again after a spell out of service",
    )
    assert back["lastTransitionTime"] > ready_since
    status = demo.until(
        lambda s: s.get("readinessFailures") == before + 5 and s["readiness"]["outOfService"] == 1,
        f"{before + 5} readiness failures, one spell out of service",
    )
    assert status["restarts"] == 0
    assert demo.container_status()["restartCount"] == 0
    # Out from the 2nd failure to the success after the 4th: about 2 periods (the kubelet probes
    # again at once when the Pod turns not ready, which uses the 3rd failure). The operator
    # follows every Ready state the watch showed, so the spell has its length.
    spell = status["readiness"].get("lastOutOfServiceSeconds")
    assert spell is not None and 1 <= spell <= 3 * FAST["periodSeconds"] + 2
    counts = next(c for c in status["conditions"] if c["type"] == "CountsComplete")
    assert counts["status"] == "True", counts["message"]
