"""Operator crash safety on the real node: SIGKILL the operator at random moments while the real
kubelet restarts real containers, start it again, and compare what it recorded with the ground
truth from the kubelet (restartCount, the kubelet's own Events): nothing counted twice, nothing
lost. Seedable: HEALTHDEMO_CHAOS_SEED=<int>; HEALTHDEMO_CHAOS_KILLS=<n> (default 20)."""

from __future__ import annotations

import functools
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from healthdemo_sandbox.localoperator import LocalOperator

from ..conftest import eventually, http_json
from .conftest import Cluster

pytestmark = pytest.mark.node

FAST = {"periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 2}
# The kubelet's spam filter allows a burst of 25 Events per Pod; an episode makes about 6
# (Unhealthy x2, Killing, Pulled, Created, Started), so each HealthDemo lives 3 episodes.
EPISODES_PER_DEMO = 3
CONCURRENT_DEMOS = 3


@pytest.fixture
def local_operator(deployed: Cluster, tmp_path: Path) -> Iterator[LocalOperator]:
    """The operator as a local process we can SIGKILL; the in-cluster one is scaled to zero so
    that exactly one operator acts."""
    scale = ("scale", "deployment/healthdemo-operator", "-n", "healthdemo-system")
    deployed.kubectl(*scale, "--replicas=0")
    eventually(
        lambda: not deployed.kubectl(
            "get", "pods", "-n", "healthdemo-system", "-o", "name"
        ).stdout.strip(),
        what="the in-cluster operator gone",
    )  # fmt: skip
    operator = LocalOperator(deployed.plane.kubeconfig("operator"), tmp_path / "operator.log")
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
        deployed.kubectl(*scale, "--replicas=1")


def truth(cluster: Cluster, namespace: str, name: str) -> dict[str, int]:
    """What the kubelet says happened to this HealthDemo's Pod."""
    pod = cluster.get("pod", f"{name}-webapp", namespace)
    (container,) = pod["status"]["containerStatuses"]
    events = cluster.events(f"{name}-webapp", namespace)
    liveness = [
        e
        for e in events
        if e["reason"] == "Unhealthy" and e["message"].startswith("Liveness probe failed")
    ]
    kills = [e for e in events if e["reason"] == "Killing" and "liveness" in e["message"]]
    return {
        "restarts": container["restartCount"],
        "probeFailures": sum(e.get("count") or 1 for e in liveness),
        "kills": sum(e.get("count") or 1 for e in kills),
    }


def _post(url: str) -> bool:
    try:
        return http_json(url, method="POST")[0] == 200
    except OSError:
        return False


def run_episodes(cluster: Cluster, namespace: str, name: str, errors: list[str]) -> None:
    """One HealthDemo's life: start it, break it, let the kubelet heal it, three times."""
    try:
        cluster.apply(
            {
                "apiVersion": "demo.example.com/v1",
                "kind": "HealthDemo",
                "metadata": {"name": name},
                "spec": {"livenessProbe": dict(FAST)},
            },
            namespace,
        )
        pod = eventually(
            lambda: cluster.kubectl(
                "get", "pod", f"{name}-webapp", "-n", namespace, check=False
            ).returncode == 0,
            timeout=90,
            what=f"{name}'s Pod",
        )  # fmt: skip
        del pod
        for episode in range(EPISODES_PER_DEMO):
            ready = cluster.wait_ready(f"{name}-webapp", namespace, timeout=90)
            url = f"http://{ready['status']['podIP']}:5000"
            # Ready can lag a container's death by a moment: retry until the app takes it.
            eventually(
                functools.partial(_post, url + "/start-failing"), timeout=30, what="start-failing"
            )

            def restarted(episode: int = episode) -> bool:
                pod = cluster.get("pod", f"{name}-webapp", namespace)
                statuses = pod["status"].get("containerStatuses") or [{}]
                return int(statuses[0].get("restartCount", 0)) > episode

            eventually(restarted, timeout=60, what=f"{name} restart {episode + 1}")
        cluster.wait_ready(f"{name}-webapp", namespace, timeout=90)
    except Exception as exc:  # reported by the test thread
        errors.append(f"{name}: {exc}")


def test_sigkilled_operator_never_double_counts_nor_loses(
    local_operator: LocalOperator, deployed: Cluster, namespace: str
) -> None:
    seed = int(os.environ.get("HEALTHDEMO_CHAOS_SEED", str(random.randrange(1 << 30))))
    wanted_kills = int(os.environ.get("HEALTHDEMO_CHAOS_KILLS", "20"))
    chaos = random.Random(seed)
    print(f"\nchaos seed {seed} (HEALTHDEMO_CHAOS_SEED={seed} repeats the kill schedule)")
    names: list[str] = []
    errors: list[str] = []
    kills = 0
    started = time.monotonic()
    running: list[threading.Thread] = []
    # New HealthDemos keep failure episodes going until enough kills have landed among them.
    while kills < wanted_kills or running:
        while kills < wanted_kills and len(running) < CONCURRENT_DEMOS:
            names.append(f"chaos-{len(names)}")
            thread = threading.Thread(
                target=run_episodes, args=(deployed, namespace, names[-1], errors)
            )
            thread.start()
            running.append(thread)
        # Kill at a random moment of the episodes in flight, stay down a random while.
        time.sleep(chaos.uniform(1.5, 4.0))
        local_operator.kill()
        kills += 1
        time.sleep(chaos.uniform(0.0, 1.5))
        local_operator.start()
        running = [t for t in running if t.is_alive()]
    assert errors == [], errors

    def recorded(name: str) -> dict[str, Any]:
        status: dict[str, Any] = deployed.get("healthdemo", name, namespace).get("status") or {}
        return status

    for name in names:
        expected = truth(deployed, namespace, name)
        assert expected["restarts"] == EPISODES_PER_DEMO
        assert expected["kills"] == EPISODES_PER_DEMO, "the kubelet's spam filter ate Events"

        def matches(name: str = name, expected: dict[str, int] = expected) -> dict[str, Any] | None:
            status = recorded(name)
            counts = {k: status.get(k) for k in ("restarts", "probeFailures")}
            return status if counts == {k: expected[k] for k in counts} else None

        status = eventually(matches, timeout=30, what=f"{name}: {expected}")
        history = status["history"]
        assert sum(item.get("restarts", 1) for item in history) == expected["restarts"]
        assert [item["reason"] for item in history] == ["LivenessProbe"] * EPISODES_PER_DEMO
    elapsed = time.monotonic() - started
    print(
        f"chaos: {kills} SIGKILLs over {len(names) * EPISODES_PER_DEMO} real liveness restarts "
        f"in {elapsed:.0f} s; 0 double-counted, 0 lost",
        file=sys.stderr,
    )
    assert kills >= wanted_kills
