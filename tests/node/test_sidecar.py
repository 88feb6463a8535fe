"""The sidecar lesson on the real node: the kubelet restarts a sidecar (an init container with
restartPolicy Always) on its own, reports it in `initContainerStatuses` and leaves the webapp
running; the kubelet's own Pod status and Events are the truth the operator's record is checked
against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ..conftest import WebappClient, eventually
from .conftest import Cluster
from .exact_counts import kubelet_failures
from .test_e2e import FAST, Demo, start_demo

pytestmark = pytest.mark.node

SIDECAR_PORT = 5100
# Three failures in a row: the sidecar's first probes may come before it listens.
SIDECAR_PROBE = {"periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 3}


@dataclass
class Sidecar(WebappClient):
    """The sidecar: the webapp image again, at the Pod's IP on its own port."""

    url: str


def sidecar_status(demo: Demo) -> dict[str, Any]:
    (status,) = demo.pod()["status"]["initContainerStatuses"]
    assert status["name"] == "sidecar"
    result: dict[str, Any] = status
    return result


def sidecar_kills(demo: Demo) -> list[str]:
    return [
        e["message"]
        for e in demo.cluster.events(f"{demo.name}-webapp", demo.namespace)
        if e["reason"] == "Killing"
        and e["involvedObject"].get("fieldPath") == "spec.initContainers{sidecar}"
    ]


def test_the_kubelet_restarts_the_sidecar_alone(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "sidecar", sidecar={"livenessProbe": SIDECAR_PROBE})
    ip = demo.pod()["status"]["podIP"]
    sidecar = Sidecar(f"http://{ip}:{SIDECAR_PORT}")
    assert sidecar.first_answer("/")[1]["app"] == "sidecar"
    sidecar.healthy_to_the_kubelet()
    # The webapp's first probe may have found it not listening yet (the kubelet counts that):
    # from here on its count must not move.
    demo.healthy_to_the_kubelet()
    uid = demo.pod()["metadata"]["uid"]
    webapp_failed = kubelet_failures(deployed, uid, "Liveness", container="webapp")

    # A liveness kill of the sidecar.
    assert sidecar.call("/start-failing", method="POST")[0] == 200
    killed = demo.until(lambda s: s.get("restarts") == 1, "the sidecar's liveness restart")
    assert sidecar_status(demo)["restartCount"] == 1
    assert demo.container_status()["restartCount"] == 0  # the webapp kept running
    assert any("failed liveness probe" in m for m in sidecar_kills(demo))
    assert killed["containerRestarts"] == {"sidecar": 1}
    item = killed["history"][0]
    assert (item["container"], item["reason"], item["evidence"]) == (
        "sidecar",
        "LivenessProbe",
        "Journal",
    )
    assert item["probeFailures"] == SIDECAR_PROBE["failureThreshold"]
    expected = (SIDECAR_PROBE["failureThreshold"] - 1) * SIDECAR_PROBE["periodSeconds"]
    assert item["expectedSeconds"] == expected
    assert expected - 0.5 <= item["measuredSeconds"] <= expected + SIDECAR_PROBE["periodSeconds"]
    # The webapp's own probe did not fail meanwhile, by the kubelet's count and the status's.
    assert kubelet_failures(deployed, uid, "Liveness", container="webapp") == webapp_failed
    assert killed["probeFailures"] == webapp_failed

    # A crash of the new sidecar container.
    sidecar.first_answer("/")
    assert sidecar.call("/crash", method="POST")[0] == 202  # accepted: it exits right after
    crashed = demo.until(lambda s: s.get("restarts") == 2, "the sidecar's crash restart")
    truth = sidecar_status(demo)
    assert truth["restartCount"] == 2
    assert truth["lastState"]["terminated"]["exitCode"] == 1
    assert demo.container_status()["restartCount"] == 0
    assert crashed["containerRestarts"] == {"sidecar": 2}
    assert crashed["restartReasons"] == {"LivenessProbe": 1, "Crash": 1}
    assert [(i["container"], i["reason"]) for i in crashed["history"]] == [
        ("sidecar", "Crash"),
        ("sidecar", "LivenessProbe"),
    ]
    assert crashed["history"][0]["exitCode"] == 1
    # No back-off: the kubelet put nothing on its schedule when it restarted the container it
    # had killed for its probe, so the first crash after that restarts at once.
    assert crashed["history"][0]["expectedBackOffSeconds"] == 0.0
    assert crashed["history"][0]["backOffSeconds"] <= 1.0
    # The webapp answered throughout, and its liveness probe never failed.
    assert demo.call("/healthz")[0] == 200
    eventually(
        lambda: demo.status()["history"][0].get("recoverySeconds") is not None,
        what="the sidecar's recovery recorded",
    )


def test_a_webapp_restart_beside_a_sidecar_stays_the_webapps(
    deployed: Cluster, namespace: str
) -> None:
    demo = start_demo(deployed, namespace, "beside", sidecar={"livenessProbe": SIDECAR_PROBE})
    demo.healthy_to_the_kubelet()
    assert demo.call("/start-failing", method="POST")[0] == 200
    restarted = demo.until(lambda s: s.get("restarts") == 1, "the webapp's liveness restart")
    assert demo.container_status()["restartCount"] == 1
    assert sidecar_status(demo)["restartCount"] == 0
    assert restarted["containerRestarts"] == {"webapp": 1}
    item = restarted["history"][0]
    assert "container" not in item  # the webapp's (items name any other container)
    assert item["probeFailures"] == FAST["failureThreshold"]
