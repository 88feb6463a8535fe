"""The one recipe that brings HealthDemo up, as steps each caller composes.

`make sandbox` (`cluster.Sandbox`) runs every step; the tests' fixtures and the benchmark run
the ones they need, so each setting (addresses, controllers, what "installed" means) is decided
here once:

    paths = find_binaries(node=True)            # the Kubernetes binaries (+ the host check)
    _, archive = node_images()                  # our images, as one archive for containerd
    plane = start_plane(paths, for_node=True)   # etcd + kube-apiserver + controller-manager
    worker = start_node(plane, paths, images=[archive])
    install(plane)                              # crds/ (Established), then deploy/
    wait_operator(plane)                        # the deployed operator is live
    # or, without a node: start_plane(paths); install(plane); start_local_operator(plane, log)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from healthdemo_sandbox import binaries, images, releases, waiting
from healthdemo_sandbox.controlplane import users
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from healthdemo_sandbox.node import archives, host, runtime
from healthdemo_sandbox.node.node import Node, controllers
from healthdemo_sandbox.paths import ROOT
from healthdemo_sandbox.timings import timed

OPERATOR_DEPLOYMENT = "deployment/healthdemo-operator"


def find_binaries(*, node: bool = False, allow_build: bool = True) -> dict[str, Path]:
    """The control plane's binaries, or with `node` all of them and the runtime's (containerd,
    runc) after the host check (root, CNI, iptables); raises MissingBinaries or NodeUnavailable
    with what is missing."""
    if not node:
        return binaries.ensure(binaries.CONTROL_PLANE, allow_build=allow_build)
    kube = binaries.ensure(binaries.ALL, allow_build=allow_build)
    return host.require({**runtime.ensure(allow_build=allow_build), **kube})


def node_images(timings: dict[str, float] | None = None) -> tuple[list[images.Step], Path]:
    """Build our images with podman (cached) and pack them for containerd (cached by image IDs);
    records "images" and "archive" seconds in `timings`."""
    spent = {} if timings is None else timings
    steps = timed(spent, "images", images.build_all)
    return steps, timed(spent, "archive", archives.node_archive)


def start_plane(
    paths: Mapping[str, Path],
    *,
    workdir: Path | None = None,
    for_node: bool = False,
    feature_gates: Mapping[str, bool] | None = None,
) -> ControlPlane:
    """A started control plane: on loopback, or `for_node` on the host's address with the
    node-lifecycle-controller, because Pods reach the API server through the `kubernetes`
    Service (127.0.0.1 in a Pod is the Pod) and only that controller lifts the kubelet's
    not-ready taint (see `node.node`)."""
    options: dict[str, Any] = {}
    if for_node:
        address = host.host_address()
        options = {
            "bind_address": address,
            "advertise_address": address,
            "controllers": controllers(releases.selected()),
        }
    plane = ControlPlane(paths, workdir=workdir, feature_gates=feature_gates, **options)
    plane.start()  # stops what it started if it fails
    return plane


def start_node(
    plane: ControlPlane,
    paths: Mapping[str, Path] | None = None,
    *,
    images: Sequence[Path] = (),
    **options: Any,
) -> Node:
    """A started node registered with `plane`, Ready and schedulable; `options` go to Node
    (lock_timeout, max_restart_backoff, ...). It cleans up after itself if the start fails."""
    worker = Node(plane, binaries=paths, images=images, **options)
    worker.start()
    return worker


def install(plane: ControlPlane, timeout: float = 90) -> None:
    """crds/ (and wait until established), then deploy/ — the README's two kubectl commands.

    Established is read from each applied CRD's own status, not with `kubectl wait crd --all`,
    which failed now and then on a freshly started API server (its error went unseen)."""
    applied = plane.kubectl("apply", "-f", str(ROOT / "crds"), "-o", "name").stdout.split()
    names = [name.split("/", 1)[1] for name in applied]

    def established(name: str) -> bool:
        try:
            crd = plane.get_json(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        except OSError:
            return False
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    if not waiting.poll(lambda: all(map(established, names)), timeout=timeout, interval=0.2):
        raise RuntimeError(f"CRDs not established within {timeout} s: {names}")
    plane.kubectl("apply", "-k", str(ROOT / "deploy"))


def wait_operator(plane: ControlPlane, timeout: int = 120) -> None:
    """Until the operator's Deployment (from deploy/, so it needs a node) is rolled out."""
    plane.kubectl(
        "rollout", "status", OPERATOR_DEPLOYMENT, "-n", users.OPERATOR_NAMESPACE,
        f"--timeout={timeout}s", timeout=timeout + 10,
    )  # fmt: skip


def local_operator(
    plane: ControlPlane, log: Path, *extra: str, kubeconfig: Path | None = None
) -> LocalOperator:
    """The operator as a local process, not started yet; by default as its ServiceAccount
    (exactly deploy/'s RBAC), or with `kubeconfig` (e.g. one that points through a proxy)."""
    return LocalOperator(kubeconfig or plane.kubeconfig("operator"), log, *extra)


def start_local_operator(
    plane: ControlPlane, log: Path, *extra: str, kubeconfig: Path | None = None
) -> LocalOperator:
    """`local_operator`, started and healthy."""
    operator = local_operator(plane, log, *extra, kubeconfig=kubeconfig)
    operator.start()
    return operator
