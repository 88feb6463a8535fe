"""The traffic lessons on the real node, two by two: each fault without and with what protects
the requests, run side by side as a user runs them (`kubectl healthdemo lesson NAME`). Each must
end with a passing verdict: the requests the operator says the episode cost, from the traffic
client's own tally, against the loss predicted from the spec (the rate, the replicas, the probe
math, the episode's length as the kubelet dated it). kube-proxy's rules, the kubelet's probes
and kills, and the Pods' deletions are all real."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubectl_healthdemo import lessons

from ..plugin.conftest import run_plugin
from .conftest import Cluster
from .test_lessons import LESSON_SECONDS

pytestmark = pytest.mark.node

PAIRS = [
    ("traffic-restart", "traffic-restart-ready"),
    ("traffic-readiness-one", "traffic-readiness-two"),
    ("traffic-delete", "traffic-delete-prestop"),
]


def test_every_traffic_lesson_is_in_a_pair() -> None:
    traffic = {lesson.name for lesson in lessons.LESSONS if any(s.loss for s in lesson.steps)}
    assert traffic == {name for pair in PAIRS for name in pair}


def lost(stdout: str) -> int:
    found = re.search(r"requests lost (\d+) at ", stdout)
    assert found, stdout
    return int(found.group(1))


@pytest.mark.parametrize("pair", PAIRS, ids=[pair[0] for pair in PAIRS])
def test_the_pair_ends_with_passing_verdicts(
    deployed: Cluster, namespace: str, pair: tuple[str, str]
) -> None:
    admin = deployed.plane.kubeconfig("admin")

    def lesson(name: str) -> subprocess.CompletedProcess[str]:
        return run_plugin("lesson", name, "-n", namespace, kubeconfig=admin,
                          timeout=LESSON_SECONDS)  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lesson, pair))
    for name, result in zip(pair, results, strict=True):
        told = f"{name} stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        print(result.stdout)  # the verdict, measured: pytest -rA shows it
        assert result.returncode == 0, told
        assert f"verdict: lesson {name} PASSED" in result.stdout.splitlines(), told
        assert "counts exact" in result.stdout, told
    without, protected = (lost(r.stdout) for r in results)
    print(f"{pair[0]}: {without} lost; {pair[1]}: {protected} lost")
