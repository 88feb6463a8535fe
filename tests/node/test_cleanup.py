"""The leftover check and clean-up on a scratch state dir, and the pure parts of the node package.

The first test needs root (a real mount, a real cgroup, a real process) but no node: it uses its
own state dir and cgroup name, and never touches host-wide state (bridge, iptables), so it is
safe while the session's node runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from healthdemo_sandbox import node, releases
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.node import cleanup, footprint, host, iptables, statedir

from ..conftest import REQUIRE_NODE, eventually, unavailable

pytestmark = pytest.mark.node


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        unavailable("needs root (mounts, cgroups)", REQUIRE_NODE)


def test_check_finds_and_clean_removes_processes_mounts_and_cgroups(
    root: None, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (state / "mnt" / "inner").mkdir(parents=True)
    python = Path(sys.executable).resolve()
    scope = cleanup.Scope(
        state,
        cgroup_name=f"healthdemo-test-{uuid.uuid4().hex[:8]}",
        host_wide=False,
        programs=frozenset({python.name}),  # stands in for containerd, the kubelet...
    )
    assert not cleanup.find_leftovers(scope)
    # One of "our programs" naming the state dir, like containerd or a shim...
    named = subprocess.Popen([python, "-c", "import time; time.sleep(300)", state / "config"])
    # ...a bystander that names it too (someone's `tail -f <state>/logs/...`): not ours...
    (state / "kubelet.log").write_text("")
    bystander = subprocess.Popen(["tail", "-f", str(state / "kubelet.log")])
    # ...and one that does not, but sits in our cgroup, like a container's.
    hidden = subprocess.Popen(["sleep", "300"])
    cgroup_root = cleanup.cgroup_roots()[0]
    group = cgroup_root / scope.cgroup_name / "pod"
    group.mkdir(parents=True)
    (group / "cgroup.procs").write_text(f"{hidden.pid}\n")
    subprocess.run(["mount", "-t", "tmpfs", "scratch", str(state / "mnt")], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "scratch", str(state / "mnt")], check=True)  # stacked
    try:
        found = cleanup.find_leftovers(scope)
        assert {int(p.split()[0]) for p in found.processes} == {named.pid, hidden.pid}
        assert found.mounts.count(str(state / "mnt")) == 2
        assert str(cgroup_root / scope.cgroup_name) in found.cgroups
        cleanup.clean(scope)
        assert named.wait(timeout=10) == -9 and hidden.wait(timeout=10) == -9
        assert bystander.poll() is None
        eventually(lambda: not cleanup.find_leftovers(scope), timeout=10, what="nothing left")
        assert not (cgroup_root / scope.cgroup_name).exists()
    finally:
        for proc in (named, hidden, bystander):
            proc.kill()
            proc.wait()
        cleanup.unmount_all(state)
        cleanup.remove_cgroups(scope.cgroup_name)


SAVED = """\
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-abc - [0:0]
:CNI-podman1 - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \\"hd\\" id: \\"1\\"" -j CNI-abc
-A POSTROUTING -s 10.87.0.2/32 -m comment --comment "name: \\"podman\\" id: \\"2\\"" -j CNI-podman1
-A CNI-abc -d 10.88.0.0/16 -m comment --comment "name: \\"hd\\" id: \\"1\\"" -j ACCEPT
-A CNI-podman1 -d 10.87.0.0/24 -m comment --comment "name: \\"podman\\" id: \\"2\\"" -j ACCEPT
-A KUBE-SERVICES -d 10.0.0.1/32 -p tcp -j KUBE-SVC-X
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:CNI-FORWARD - [0:0]
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
COMMIT
"""


def test_iptables_removes_ours_and_leaves_podmans() -> None:
    tables = iptables.parse(SAVED)
    script = iptables.restore_script(tables, "hd")
    assert script.splitlines() == [
        "*nat",
        '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-D POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \\"hd\\" '
        'id: \\"1\\"" -j CNI-abc',
        "-F CNI-abc",
        "-F KUBE-SERVICES",
        "-X CNI-abc",
        "-X KUBE-SERVICES",
        "COMMIT",
    ]
    # portmap's shared chain goes only if it was ours (absent before) and nobody else uses it.
    shared = iptables.restore_script(tables, "hd", ["CNI-HOSTPORT-DNAT"])
    assert "-X CNI-HOSTPORT-DNAT" in shared
    assert "-D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT" in shared


def test_shim_socket_path_matches_containerd() -> None:
    """The path containerd gave a real shim here (1.6 and 2.4 alike: /run/containerd/s)."""
    address = Path("/tmp/hdx/containerd/containerd.sock")  # noqa: S108 - a real run's
    sandbox = "98cbb822145308b8130fb815f68ce946657e6a02580a77f021559c835f906515"
    assert footprint.shim_socket(address, "k8s.io", sandbox) == Path(
        "/run/containerd/s/b83c7c6c367b68750d6bf73a8b94ab70a1369ea442dd0d158f405693ab2f1a32"
    )


def test_state_dir_keeps_logs_and_images_only(tmp_path: Path) -> None:
    for name in ("logs/kubelet.log", "containerd/root/meta.db", "containerd/state/x", "pki/k"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    statedir.remove_except(tmp_path, statedir.kept(tmp_path, images=True))
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["containerd/root/meta.db", "logs/kubelet.log"]
    statedir.remove_except(tmp_path, statedir.kept(tmp_path, images=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]


def test_guard_names_what_is_missing_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no iptables, ip...
    monkeypatch.setenv("HEALTHDEMO_CACHE", str(tmp_path / "cache"))  # no runtime built
    with pytest.raises(node.NodeUnavailable) as raised:
        node.require({})
    message = str(raised.value)
    assert "iptables" in message and "sandbox/setup-host.sh" in message
    assert "containerd" in message and "runc" in message  # ours, built like the kubelet
    assert "kubelet" in message and "make kube-binaries" in message


def test_node_refuses_a_control_plane_pods_cannot_reach() -> None:
    loopback = ControlPlane({}, controllers=node.controllers(releases.selected()))  # 127.0.0.1
    with pytest.raises(ValueError, match="loopback"):
        node.Node(loopback)
    no_lifecycle = ControlPlane({}, bind_address="192.0.2.10", advertise_address="192.0.2.10")
    with pytest.raises(ValueError, match="node-lifecycle-controller"):
        node.Node(no_lifecycle)
    loopback.stop()
    no_lifecycle.stop()


def test_host_lock_admits_one_holder() -> None:
    name = f"\0healthdemo-test-{uuid.uuid4().hex}".encode()
    first, second = host.HostLock(name), host.HostLock(name)
    first.acquire()
    with pytest.raises(host.NodeBusy, match="another healthdemo node"):
        second.acquire(timeout=0.6)
    first.release()
    second.acquire()
    second.release()
