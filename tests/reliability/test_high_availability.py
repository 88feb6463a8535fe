"""Two operator replicas with Kopf peering: only one acts; kill it, the other takes over within
the peering lifetime, and nothing is counted twice."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.kubeletstandin import KubeletStandIn
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import eventually
from ..healthdemo_operator.kubelet_actor import KILLING, KubeletActor
from ..healthdemo_operator.test_operator import (
    apply,
    counts_complete,
    read_pod,
    sample,
    status,
    two_failures_exact,
)

pytestmark = pytest.mark.controlplane

LIFETIME = 8  # seconds a silent replica is still presumed alive


@pytest.fixture
def replicas(installed: ControlPlane, tmp_path: Path) -> Iterator[list[LocalOperator]]:
    os.environ["HEALTHDEMO_PEERING_LIFETIME"] = str(LIFETIME)
    pair = [
        LocalOperator(
            installed.kubeconfig("operator"), tmp_path / f"replica-{n}.log", peering="healthdemo"
        )
        for n in (1, 2)
    ]
    try:
        for replica in pair:
            replica.start()
        yield pair
    finally:
        os.environ.pop("HEALTHDEMO_PEERING_LIFETIME", None)
        for replica in pair:
            replica.stop()


def peers(installed: ControlPlane) -> dict[str, Any]:
    custom = client.CustomObjectsApi(installed.api_client())
    peering = custom.get_cluster_custom_object(
        "kopf.dev", "v1", "clusterkopfpeerings", "healthdemo"
    )
    result: dict[str, Any] = peering.get("status") or {}
    return result


def acted(replica: LocalOperator, namespace: str) -> int:
    """How many story lines this replica logged about HealthDemos in `namespace` (the Pod it
    created, a restart it recorded: "... ] ns/name: ...")."""
    return replica.log_text().count(f"] {namespace}/")


def test_one_acts_the_other_takes_over(
    replicas: list[LocalOperator], installed: ControlPlane, kubelet_node: KubeletStandIn
) -> None:
    """On both sources: the kubelet's Events, and its probe counters (a stand-in kubelet's),
    which the stand-by reads from where the leader's last write left them."""
    namespace = f"ha-{uuid.uuid4().hex[:6]}"
    installed.kubectl("create", "namespace", namespace)
    core = client.CoreV1Api(installed.api_client())
    custom = client.CustomObjectsApi(installed.api_client())
    eventually(lambda: len(peers(installed)) == 2, what="both replicas in the peering object")
    priorities = sorted(peer["priority"] for peer in peers(installed).values())
    assert priorities[0] != priorities[1], "equal priorities would pause both"

    apply(installed, sample(namespace))
    eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    kubelet = KubeletActor(core, namespace, "demo-webapp")
    kubelet.place(kubelet_node)
    kubelet.run_container()
    unhealthy = two_failures_exact(kubelet, custom, namespace)

    active = [r for r in replicas if acted(r, namespace)]
    assert len(active) == 1, "exactly one replica handles HealthDemos"
    (leader,) = active
    (standby,) = [r for r in replicas if r is not leader]

    leader.kill()
    killed_at = time.monotonic()
    kubelet.liveness_failed(unhealthy, 3)
    kubelet.event("Killing", KILLING, event_type="Normal")
    kubelet.run_container(
        restarts=1, last_terminated=kubelet.terminated(exit_code=0, reason="Completed")
    )
    kubelet.counted(5)  # and 2 of the new container's, past the Events
    taken_over = eventually(
        lambda: (
            (s := status(custom, namespace)).get("restarts") == 1
            and s.get("probeFailures") == 5
            and s
        ),
        timeout=LIFETIME * 3,
        what="the stand-by records the restart",
    )
    takeover_s = time.monotonic() - killed_at
    print(f"\ntakeover after SIGKILL of the leader: {takeover_s:.1f} s (lifetime {LIFETIME} s)")
    assert "Resuming operations" in standby.log_text()
    assert takeover_s < LIFETIME + 10, f"takeover took {takeover_s:.1f} s"
    assert taken_over["probeFailures"] == 5  # the counter's, not 2 + 5
    assert taken_over["history"][0]["reason"] == "LivenessProbe"
    assert taken_over["history"][0]["probeFailures"] == 3
    assert counts_complete(taken_over) == ("True", "Exact")
    installed.kubectl("delete", "namespace", namespace, "--wait=false")
