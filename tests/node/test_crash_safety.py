"""Operator crash safety on the real node: SIGKILL the operator at random moments while the real
kubelet fails and restarts a real container far past its Event budget, start it again, and
compare what it recorded with the truth from the kubelet (its probe counters, the Pod status)
and the webapp: nothing counted twice, nothing lost, every restart its own history item — also
the ones that happened while no operator was running. Seedable: HEALTHDEMO_CHAOS_SEED=<int>."""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from healthdemo_sandbox.localoperator import LocalOperator

from ..conftest import eventually
from .conftest import Cluster
from .exact_counts import PROBE, RESTARTS, ROUNDS, truth
from .test_exact_counts import recorded_exactly, start

pytestmark = pytest.mark.node

AWAY_RESTARTS = 2  # restarts while the operator is down, deterministically
MIN_KILLS = 15


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


class Chaos:
    """SIGKILLs the operator at seeded random moments until stopped; restarts it each time."""

    def __init__(self, operator: LocalOperator, seed: int) -> None:
        self.operator, self.random = operator, random.Random(seed)
        self.kills = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos")

    def __enter__(self) -> Chaos:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.random.uniform(1.5, 4.0)):
            self.operator.kill()
            self.kills += 1
            time.sleep(self.random.uniform(0.0, 1.5))
            self.operator.start()


def test_sigkilled_operator_never_double_counts_nor_loses(
    local_operator: LocalOperator, deployed: Cluster, namespace: str
) -> None:
    seed = int(os.environ.get("HEALTHDEMO_CHAOS_SEED", str(random.randrange(1 << 30))))
    print(f"\nchaos seed {seed} (HEALTHDEMO_CHAOS_SEED={seed} repeats the kill schedule)")
    started = time.monotonic()
    app = start(deployed, namespace, "chaos")
    with Chaos(local_operator, seed) as chaos:
        for _ in range(ROUNDS):
            app.fail_below_the_threshold()
        for _ in range(RESTARTS):
            app.fail_until_restarted()
    # Away: restarts that no operator sees one by one. Each must still get its own item.
    local_operator.kill()
    for _ in range(AWAY_RESTARTS):
        app.fail_until_restarted()
    local_operator.start()

    expected = truth(app)
    restarts = RESTARTS + AWAY_RESTARTS
    assert expected["restarts"] == restarts
    assert expected["webappFailures"] == 2 * ROUNDS + PROBE["failureThreshold"] * restarts, expected
    status = recorded_exactly(app, expected, restarts)
    assert status["probeFailures"] >= expected["webappFailures"]
    print(
        f"chaos: {chaos.kills} SIGKILLs during {ROUNDS} rounds below the threshold and "
        f"{restarts} liveness restarts ({AWAY_RESTARTS} while down) in "
        f"{time.monotonic() - started:.0f} s; truth kubelet {expected['kubeletFailures']} failed "
        f"(Events {expected['eventFailures']}), status equal; 0 double-counted, 0 lost",
        file=sys.stderr,
    )
    assert chaos.kills >= MIN_KILLS
