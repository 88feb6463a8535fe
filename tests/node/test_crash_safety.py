"""Operator crash safety on the real node: SIGKILL the operator at random moments while the real
kubelet fails and restarts a real container far past its Event budget, start it again, and
compare what it recorded with the truth from the kubelet (its probe counters, the Pod status)
and the webapp: nothing counted twice, nothing lost, every restart its own history item — also
the ones that happened while no operator was running. Meanwhile a quarter of its status writes
and Event posts land with their answers lost (the fault proxy), and the kubelet restarts once.
Seedable: HEALTHDEMO_CHAOS_SEED=<int>."""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import pytest
from healthdemo_sandbox.localoperator import LocalOperator

from ..background import Background
from ..conftest import eventually
from ..reliability.faultproxy import Rule
from .conftest import Cluster, ProxiedOperator
from .exact_counts import PROBE, RESTARTS, ROUNDS, StatusTrail, kubelet_failures, truth
from .test_exact_counts import recorded_exactly, start

pytestmark = pytest.mark.node

AWAY_RESTARTS = 2  # restarts while the operator is down, deterministically
MIN_KILLS = 15
LOST_SHARE = 0.25


def counter_read(status: dict[str, Any], pod_uid: str) -> int | None:
    """The kubelet's liveness counter as the operator last read it (its ledger, in the status)."""
    pods = (status.get("accounting") or {}).get("pods") or {}
    containers = (pods.get(pod_uid) or {}).get("containers") or {}
    tally = ((containers.get("webapp") or {}).get("probes") or {}).get("Liveness") or {}
    raw = tally.get("raw")
    return int(raw) if raw is not None else None


class Chaos(Background):
    """SIGKILLs the operator at seeded random moments until stopped; restarts it each time."""

    def __init__(self, operator: LocalOperator, seed: int) -> None:
        super().__init__("chaos")
        self.operator, self.random = operator, random.Random(seed)
        self.kills = 0

    def interval(self) -> float:
        return self.random.uniform(1.5, 4.0)

    def step(self) -> None:
        self.operator.kill()
        self.kills += 1
        time.sleep(self.random.uniform(0.0, 1.5))
        self.operator.start()


def test_sigkilled_operator_never_double_counts_nor_loses(
    proxied_local_operator: ProxiedOperator, deployed: Cluster, namespace: str
) -> None:
    proxy, operator = proxied_local_operator.proxy, proxied_local_operator.operator
    seed = proxy.seed
    print(f"\nchaos seed {seed} (HEALTHDEMO_CHAOS_SEED={seed} repeats the kill and loss draws)")
    started = time.monotonic()
    app = start(deployed, namespace, "chaos")
    uid = app.pod()["metadata"]["uid"]
    # A quarter of the status writes and Event posts land, and their answers are lost.
    lost = [
        Rule("PATCH", rf"/namespaces/{namespace}/healthdemos/chaos/status", lose_response=True,
             chance=LOST_SHARE),
        Rule("POST", rf"/api/v1/namespaces/{namespace}/events$", lose_response=True,
             chance=LOST_SHARE),
    ]  # fmt: skip
    with StatusTrail(app) as trail, proxy.fault(lost[0]), proxy.fault(lost[1]):
        with Chaos(operator, seed) as chaos:
            for _ in range(ROUNDS // 2):
                app.fail_below_the_threshold()
            # The kubelet restarts once the operator has read its count (its ledger has it, not
            # only a status equal to it by the Events): nothing to lose. Its counters start from
            # zero, and the status adds on from there.
            before = eventually(
                lambda: (
                    (n := kubelet_failures(deployed, uid, "Liveness"))
                    and counter_read(app.status(), uid) == n
                    and n
                ),
                timeout=45,
                what="the operator's read of the kubelet's count before its restart",
            )
            kubelet_seconds = deployed.node.restart_kubelet()
            for _ in range(ROUNDS - ROUNDS // 2):
                app.fail_below_the_threshold()
            for _ in range(RESTARTS):
                app.fail_until_restarted()
        # Away: restarts that no operator sees one by one. Each must still get its own item.
        operator.kill()
        for _ in range(AWAY_RESTARTS):
            app.fail_until_restarted()
        operator.start()

        expected = truth(app)
        expected["kubeletFailures"] += before  # what the kubelet counted before its restart
        restarts = RESTARTS + AWAY_RESTARTS
        assert expected["restarts"] == restarts
        assert expected["webappFailures"] == (2 * ROUNDS + PROBE["failureThreshold"] * restarts), (
            expected
        )
        status = recorded_exactly(app, expected, restarts, lower_bound="KubeletCountersReset")
    trail.never_rewritten()
    assert status["probeFailures"] >= expected["webappFailures"]
    print(
        f"chaos: {chaos.kills} SIGKILLs, {lost[0].hits} status and {lost[1].hits} Event answers "
        f"lost, a kubelet restart ({kubelet_seconds:.1f} s) during {ROUNDS} rounds below the "
        f"threshold and {restarts} liveness restarts ({AWAY_RESTARTS} while down) in "
        f"{time.monotonic() - started:.0f} s; truth kubelet {expected['kubeletFailures']} failed "
        f"(Events {expected['eventFailures']}), status equal; 0 double-counted, 0 lost; "
        f"{len(trail.seen)} statuses read on the way, no total down, no cause rewritten",
        file=sys.stderr,
    )
    assert chaos.kills >= MIN_KILLS
    assert lost[0].hits > 0
