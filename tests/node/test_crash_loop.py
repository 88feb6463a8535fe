"""The crash-loop lesson on the real node: deploy/examples/crash-loop.yaml crashes 3 s after each
start, and the kubelet's CrashLoopBackOff spaces the restarts. The truth: the node's own
configuration (its cap, RESTART_BACKOFF_SECONDS here) and the kubelet's Pod status (each
container's end and the next one's start)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import yaml

from ..conftest import ROOT, eventually
from .conftest import RESTART_BACKOFF_SECONDS, Cluster
from .test_e2e import Demo

pytestmark = pytest.mark.node

EXAMPLE = ROOT / "deploy" / "examples" / "crash-loop.yaml"


def seconds(start: str, end: str) -> float:
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def test_each_restart_waits_as_the_nodes_schedule_says(deployed: Cluster, namespace: str) -> None:
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    deployed.apply(body, namespace)
    demo = Demo(deployed, namespace, "crash-loop")
    status = demo.until(lambda s: s.get("restarts", 0) >= 4, "four restarts", timeout=120)
    cap = RESTART_BACKOFF_SECONDS
    assert status["expected"]["backOff"] == {
        "initialSeconds": cap,  # 10 s, lowered to the node's cap
        "maxSeconds": cap,
        "resetAfterSeconds": 600.0,
        "fromNode": True,
        "source": f"the kubelet of node {deployed.node.name} (/configz)",
    }
    oldest_first = list(reversed(status["history"]))
    assert [h["reason"] for h in oldest_first[:4]] == ["Crash"] * 4
    assert [h.get("expectedBackOffSeconds") for h in oldest_first[:4]] == [0.0, cap, cap, cap]

    def the_same_restart() -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The newest restart, in the status and in the kubelet's Pod status at once."""
        (container,) = demo.pod()["status"]["containerStatuses"]
        now = demo.status()
        if now["restarts"] != container["restartCount"] or "running" not in container["state"]:
            return None
        (again,) = demo.pod()["status"]["containerStatuses"]
        return (now, container) if again["restartCount"] == container["restartCount"] else None

    now, container = eventually(the_same_restart, timeout=60, what="status = the kubelet's")
    ended = container["lastState"]["terminated"]["finishedAt"]
    started = container["state"]["running"]["startedAt"]
    newest = now["history"][0]
    assert newest["backOffSeconds"] == seconds(ended, started)  # the kubelet's own times
    # And the kubelet kept to its schedule: the wait, to its whole-second timestamps.
    assert cap - 1 <= newest["backOffSeconds"] <= cap + 2
