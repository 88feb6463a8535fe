"""A real node for the session: ControlPlane on the host's address + containerd/kubelet/... Node.

Started once (warm: about 5 s; cold, with image builds and the first import: see the timings
printed) and stopped at the end, when the node's leftover check must come back empty. Skips with
one reason when the host cannot run a node (not root, no containerd, no binaries); fails instead
under HEALTHDEMO_REQUIRE_NODE=1.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_sandbox import binaries, bringup, images
from healthdemo_sandbox.controlplane import users
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.controlplane.users import OPERATOR_NAMESPACE
from healthdemo_sandbox.localoperator import LocalOperator
from healthdemo_sandbox.node import cleanup, statedir
from healthdemo_sandbox.node.cleanup import Leftovers
from healthdemo_sandbox.node.host import NodeBusy, NodeUnavailable
from healthdemo_sandbox.node.node import Node
from healthdemo_sandbox.paths import ROOT
from healthdemo_sandbox.timings import describe

from ..conftest import REQUIRE_NODE, eventually, unavailable
from ..reliability.faultproxy import FaultProxy

MAKE_SANDBOX_TESTS = "tests/node/test_make_sandbox.py"

SEED_POD = ROOT / "deploy" / "pod-healthcheck.yaml"
# The kubelet's CrashLoopBackOff grows 10 s, 20 s, ... 300 s; capped at 2 s here, so that one Pod
# can go through the eight and more liveness restarts the exact-count tests need in minutes.
RESTART_BACKOFF_SECONDS = 2.0


@dataclass
class Cluster:
    """The session's control plane and node, with the kubectl calls the tests share."""

    plane: ControlPlane
    node: Node

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, **kwargs)

    def kubectl_as(
        self, component: str, *args: str, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """kubectl with a node component's own certificate (kubelet, kube-proxy, ...)."""
        kubeconfig = self.node.identities[component].kubeconfig
        return subprocess.run(
            [str(self.plane.binaries["kubectl"]), "--kubeconfig", str(kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        out = self.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
        result: dict[str, Any] = json.loads(out)
        return result

    def apply(self, manifest: dict[str, Any], namespace: str) -> None:
        self.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))

    def wait_ready(self, name: str, namespace: str, timeout: int = 60) -> dict[str, Any]:
        self.kubectl(
            "wait", "-n", namespace, "--for=condition=Ready", f"pod/{name}",
            f"--timeout={timeout}s", timeout=timeout + 10,
        )  # fmt: skip
        return self.get("pod", name, namespace)

    def events(self, name: str, namespace: str) -> list[dict[str, Any]]:
        out = self.kubectl(
            "get", "events", "-n", namespace,
            f"--field-selector=involvedObject.kind=Pod,involvedObject.name={name}", "-o", "json",
        ).stdout  # fmt: skip
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items


def seed_pod(name: str | None = None) -> dict[str, Any]:
    """deploy/pod-healthcheck.yaml as a dict (optionally renamed)."""
    pod: dict[str, Any] = yaml.safe_load(SEED_POD.read_text())
    if name:
        pod["metadata"]["name"] = name
    return pod


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make sandbox` runs its own node: first, before the session's node holds the host lock."""
    first = [item for item in items if item.nodeid.startswith(MAKE_SANDBOX_TESTS)]
    items[:] = first + [item for item in items if item not in first]


@pytest.fixture(scope="session")
def node_binaries() -> dict[str, Path]:
    """Control-plane and node binaries, after the host check (root, containerd, runc, CNI)."""
    try:
        return bringup.find_binaries(node=True, allow_build=False)
    except (binaries.MissingBinaries, NodeUnavailable) as exc:
        unavailable(f"no real node here: {exc}", REQUIRE_NODE)


@pytest.fixture(scope="session")
def node_images(node_binaries: dict[str, Path]) -> Path:
    """pause + webapp + operator images (podman), as one docker-archive cached by image IDs."""
    timings: dict[str, float] = {}
    try:
        steps, archive = bringup.node_images(timings)
    except images.HostNotReady as exc:
        unavailable(f"no image builds: {exc}", REQUIRE_NODE)
    built = images.describe_steps(steps)
    print(f"\nimages: {built}; archive {archive.name} {timings['archive']:.1f}s", file=sys.stderr)
    return archive


@pytest.fixture(scope="session")
def crashed_run(node_images: Path, tmp_path_factory: pytest.TempPathFactory) -> Leftovers:
    """What a SIGKILLed node run leaves (the session's node must clean it up when it starts)."""
    workdir = tmp_path_factory.mktemp("crashed-controlplane")
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("crashing_node.py")), str(node_images),
         str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first.strip() == "UP", first + child.stdout.read()
    finally:
        child.kill()
        child.wait()
    return eventually(
        lambda: (left := cleanup.find_leftovers(statedir.scope_for(statedir.default_state_dir())))
        and not any("kubelet" in p for p in left.processes)
        and left,
        timeout=10,
        what="the crashed run's components gone (PDEATHSIG), its containers still there",
    )  # fmt: skip


@pytest.fixture(scope="session")
def cluster(
    node_binaries: dict[str, Path], node_images: Path, crashed_run: Leftovers
) -> Iterator[Cluster]:
    plane = bringup.start_plane(node_binaries, for_node=True)
    try:
        worker = bringup.start_node(
            plane,
            node_binaries,
            images=[node_images],
            lock_timeout=120,
            max_restart_backoff=RESTART_BACKOFF_SECONDS,
        )
    except NodeBusy as exc:
        plane.stop()
        unavailable(str(exc), REQUIRE_NODE)
    except BaseException:
        plane.stop()
        raise
    timings = {"controlplane": plane.timings, "node": worker.timings}
    (worker.logs / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    print(f"\nnode {worker.name} up: {describe(worker.timings)}", file=sys.stderr)
    try:
        yield Cluster(plane, worker)
    finally:
        left = worker.stop()
        plane.stop()
        print(f"\nnode stopped: {describe(worker.stop_timings)}", file=sys.stderr)
    assert not left, f"the node left this behind: {left}"


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace that enforces Pod Security "restricted", as production ones should."""
    name = f"node-{uuid.uuid4().hex[:8]}"
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    eventually(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False)
        .returncode == 0,
        what=f"ServiceAccount default in {name}",
    )  # fmt: skip
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def deployed(cluster: Cluster) -> Iterator[Cluster]:
    """The operator in the cluster, as users deploy it: crds/ + deploy/, from its own image."""
    bringup.install(cluster.plane)
    bringup.wait_operator(cluster.plane)
    yield cluster
    # The deployed operator's own words (also its previous container's), for a failed run.
    for previous in ("--previous=false", "--previous=true"):
        logs = cluster.kubectl(
            "logs", bringup.OPERATOR_DEPLOYMENT, "-n", OPERATOR_NAMESPACE, previous, check=False
        )
        name = "operator.previous.log" if previous.endswith("true") else "operator.log"
        (cluster.node.logs / name).write_text(logs.stdout + logs.stderr)


# deploy/deployment.yaml sets none: Kubernetes' default terminationGracePeriodSeconds.
OPERATOR_GRACE_SECONDS = 30


@contextmanager
def operator_outside(
    deployed: Cluster, log: Path, kubeconfig: Path | None = None
) -> Iterator[LocalOperator]:
    """The operator as a local process we can SIGKILL (or SIGSTOP); the in-cluster one is scaled
    to zero so that exactly one operator acts."""
    scale = ("scale", "deployment/healthdemo-operator", "-n", "healthdemo-system")
    deployed.kubectl(*scale, "--replicas=0")
    try:
        # Its Pod may take its whole grace period (30 s) to go: an operator still starting up
        # (right after a test put deploy/ back) is killed only when that is over.
        eventually(
            lambda: not deployed.kubectl(
                "get", "pods", "-n", "healthdemo-system", "-o", "name"
            ).stdout.strip(),
            timeout=OPERATOR_GRACE_SECONDS + 30,
            what="the in-cluster operator gone",
        )  # fmt: skip
        operator = LocalOperator(kubeconfig or deployed.plane.kubeconfig("operator"), log)
        operator.start()
        try:
            yield operator
        finally:
            operator.stop()
    finally:  # whatever failed, the in-cluster operator is back for the tests after this one
        deployed.kubectl(*scale, "--replicas=1")


@pytest.fixture
def local_operator(deployed: Cluster, tmp_path: Path) -> Iterator[LocalOperator]:
    with operator_outside(deployed, tmp_path / "operator.log") as operator:
        yield operator


@dataclass
class ProxiedOperator:
    proxy: FaultProxy
    operator: LocalOperator


@pytest.fixture
def proxied_local_operator(deployed: Cluster, tmp_path: Path) -> Iterator[ProxiedOperator]:
    """The local operator talking to the API server through the fault proxy (tests/reliability);
    the kubelets it reads directly."""
    plane = deployed.plane
    proxy = FaultProxy(plane.server, plane.ca, seed=chaos_seed())
    proxy.start()
    identity = plane.users["operator"]
    kubeconfig = tmp_path / "via-proxy.kubeconfig"
    kubeconfig.write_text(
        users.kubeconfig(proxy.url, plane.ca.cert_pem, identity.name, token=identity.token)
    )
    try:
        with operator_outside(deployed, tmp_path / "operator.log", kubeconfig) as operator:
            yield ProxiedOperator(proxy, operator)
    finally:
        proxy.stop()


def chaos_seed() -> int:
    """HEALTHDEMO_CHAOS_SEED, or a fresh one (printed by the tests that use it)."""
    return int(os.environ.get("HEALTHDEMO_CHAOS_SEED") or random.randrange(1 << 30))
