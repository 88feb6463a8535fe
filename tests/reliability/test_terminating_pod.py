"""A Pod that stays terminating (its kubelet never confirms) is waited for calmly.

The controller asks to look again in a few seconds while it waits. Once, that recheck came back
at once, and with nothing to ask the API the reconcile never suspended: a hot loop that froze
the event loop until the operator's own liveness probe killed it. The truth here is the
kernel's account of the operator's CPU time (a hot loop burns a whole core; a waiting operator
next to nothing), and its liveness endpoint, which must keep answering.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import eventually
from ..healthdemo_operator.kubelet_actor import KubeletActor
from ..healthdemo_operator.test_operator import apply, read_pod, sample
from .test_rbac_audit import bind_to_a_node_without_kubelet

pytestmark = pytest.mark.controlplane

WATCH_SECONDS = 6
# An idle operator spends well under 1 % of a core; a hot loop 100 %.
MAX_CPU_SHARE = 0.25


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_terminating_pod_causes_no_hot_loop(installed: ControlPlane, tmp_path: Path) -> None:
    namespace = f"going-{uuid.uuid4().hex[:6]}"
    installed.kubectl("create", "namespace", namespace)
    core = client.CoreV1Api(installed.api_client())
    operator = LocalOperator(installed.kubeconfig("operator"), tmp_path / "operator.log")
    node: str | None = None
    operator.start()
    try:
        apply(installed, sample(namespace))
        eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
        node = bind_to_a_node_without_kubelet(core, namespace, "demo-webapp")
        core.delete_namespaced_pod("demo-webapp", namespace)  # stays: no kubelet confirms
        eventually(
            lambda: (pod := read_pod(core, namespace, "demo-webapp"))
            and pod["metadata"].get("deletionTimestamp"),
            what="the Pod terminating",
        )  # fmt: skip
        time.sleep(1)  # the operator has seen it
        assert operator.pid is not None
        spent = cpu_seconds(operator.pid)
        time.sleep(WATCH_SECONDS)
        share = (cpu_seconds(operator.pid) - spent) / WATCH_SECONDS
        assert share < MAX_CPU_SHARE, f"the operator used {share:.0%} of a core while waiting"
        assert operator.health() is not None, "the operator stopped answering its liveness probe"
        # Once the deletion is confirmed, the Pod comes back.
        KubeletActor(core, namespace, "demo-webapp").confirm_deletion()
        eventually(
            lambda: (pod := read_pod(core, namespace, "demo-webapp"))
            and not pod["metadata"].get("deletionTimestamp"),
            what="a new Pod",
        )  # fmt: skip
    finally:
        operator.stop()
        installed.kubectl("delete", "namespace", namespace, "--wait=false")
        if node:
            installed.kubectl("delete", "node", node, "--wait=false")
