"""`kubectl healthdemo` on the real node: the installed executable, as the sandbox's admin,
breaks the real webapp through the API server's Pod proxy; the real kubelet restarts it; the
deployed operator records it; the timeline tells it with measured next to expected seconds."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from ..conftest import eventually
from ..plugin.conftest import run_plugin
from .conftest import Cluster
from .test_e2e import FAST, start_demo

pytestmark = pytest.mark.node

STORY = ("liveness failing", "killed: liveness probe", "container started again", "ready again")


def admin(cluster: Cluster) -> Path:
    return cluster.plane.kubeconfig("admin")


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


def test_break_then_the_timeline_tells_kill_restart_and_ready(
    deployed: Cluster, namespace: str
) -> None:
    demo = start_demo(deployed, namespace, "seed")
    broke = run_plugin("break", "seed", "-n", namespace, kubeconfig=admin(deployed))
    assert broke.returncode == 0, broke.stderr
    assert broke.stdout.startswith("seed-webapp: POST /start-failing → 200")
    assert "kills it 1 s after the first failed probe" in broke.stdout  # FAST: one period

    healed = demo.until(
        lambda s: s.get("restarts") == 1 and s["history"][0].get("recoverySeconds") is not None,
        "the restart recorded, with its recovery time",
    )
    item = healed["history"][0]
    assert item["reason"] == "LivenessProbe"
    assert demo.container_status()["restartCount"] == 1  # the kubelet's doing, not ours

    def told() -> subprocess.CompletedProcess[str] | None:
        result = run_plugin("timeline", "seed", "-n", namespace, kubeconfig=admin(deployed))
        assert result.returncode == 0, result.stderr
        return result if all(what in result.stdout for what in STORY) else None

    story = eventually(told, what=f"the timeline telling {STORY}")
    lines = story.stdout.splitlines()
    order = [next(i for i, line in enumerate(lines) if what in line) for what in STORY]
    assert order == sorted(order), story.stdout
    (kill,) = [line for line in lines if "killed: liveness probe" in line]
    assert f"{item['measuredSeconds']:.1f} s" in kill  # measured: the webapp's journal
    assert f" {item['expectedSeconds']} s " in kill  # expected: the probe math
    assert "kubelet, status" in kill  # the kubelet's Killing Event and the operator's record
    (ready,) = [line for line in lines if "ready again" in line]
    assert f"{item['recoverySeconds']:.1f} s" in ready
    assert "restart recorded" in story.stdout  # the operator's Event
    assert "restarts 1 (LivenessProbe 1)" in story.stdout


def test_heal_before_the_kubelet_acts(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(
        deployed,
        namespace,
        "healer",
        livenessProbe={**FAST, "periodSeconds": 5, "failureThreshold": 3},  # 10 s to heal in
        readinessProbe={"periodSeconds": 1, "failureThreshold": 1},
    )
    ns = ("-n", namespace)
    assert run_plugin("break", "healer", *ns, kubeconfig=admin(deployed)).returncode == 0
    assert demo.call("/healthz")[0] == 500
    healed = run_plugin("heal", "healer", *ns, kubeconfig=admin(deployed))
    assert healed.returncode == 0, healed.stderr
    assert demo.call("/healthz") == (200, {"status": "ok"})
    assert demo.container_status()["restartCount"] == 0

    off = run_plugin("break", "healer", *ns, "--how", "readiness-off", kubeconfig=admin(deployed))
    assert off.returncode == 0, off.stderr
    demo.until(lambda s: conditions(s).get("Ready") == "False", "out of service")
    assert run_plugin("heal", "healer", *ns, kubeconfig=admin(deployed)).returncode == 0
    demo.until(lambda s: conditions(s).get("Ready") == "True", "back in service")
    assert demo.container_status()["restartCount"] == 0


def test_faults_disabled_is_a_clear_error(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "guarded", faults="disabled")
    result = run_plugin("break", "guarded", "-n", namespace, kubeconfig=admin(deployed))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the webapp in Pod guarded-webapp refuses faults (HTTP 403)")
    assert "WEBAPP_FAULTS=disabled" in line  # the webapp's words, through the proxy
    assert demo.call("/start-failing", method="POST")[0] == 403  # the operator passed it on
    assert demo.call("/healthz")[0] == 200
