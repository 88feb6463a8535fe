"""Remove everything a node leaves on the host, whether it stopped in order or crashed; and check.

An orderly stop leaves little (the kubelet stops the Pods, CNI releases their addresses); this
module is for the rest, and for a run that was SIGKILLed: containerd's shims and the containers
outlive it, with their mounts, network namespaces, cgroups and iptables rules. It works from
names a node always uses, so it needs no running process:
- processes: our programs (containerd, its shims, runc, the Kubernetes binaries) whose command
  line mentions the state dir, and anything in our cgroups (the containers). Someone's
  `tail -f <state>/logs/kubelet.log` is not ours and is left alone;
- mounts under the state dir (overlay rootfs, shm, netns, Pod volumes, the kubelet's root bind);
- cgroups: `/<cgroup_name>` in every mounted hierarchy (the kubelet's cgroupRoot);
- the CNI bridge, our CNI result cache files, our iptables rules and chains (`iptables.py`);
- host files and sysctls recorded in the footprint (`footprint.py`).

`find_leftovers` checks the same list without changing anything: tests assert it is empty.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from healthdemo_sandbox.node import footprint, iptables

log = logging.getLogger(__name__)

CNI_CACHE = Path("/var/lib/cni/results")
# Executables a node runs (`kubebin` is the multi-call binary behind the Kubernetes symlinks).
PROGRAMS = frozenset(
    {
        "containerd",
        "containerd-shim-runc-v2",
        "runc",
        "kubelet",
        "kube-proxy",
        "kube-scheduler",
        "kubebin",
    }
)
CRI_NAMESPACE = "k8s.io"
_MNT_DETACH = 2


@dataclass(frozen=True)
class Scope:
    """The names that identify one node's leftovers on this host."""

    state_dir: Path
    cgroup_name: str = "healthdemo"
    bridge: str = "cni0"
    network: str = "healthdemo-node"
    host_wide: bool = True  # bridge, iptables, CNI cache, footprint: off for unit tests
    programs: frozenset[str] = PROGRAMS

    @property
    def containerd_address(self) -> Path:
        return self.state_dir / "containerd" / "containerd.sock"

    @property
    def containerd_root(self) -> Path:
        return self.state_dir / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.state_dir / "containerd" / "state"


@dataclass
class Leftovers:
    """What is still on the host; empty (falsy) after a clean stop.

    `netns` are the Pods' network namespaces, bind-mounted under the state dir
    (containerd's `netns_mounts_under_state_dir`); a node never adds any to `ip netns`
    (/run/netns), where podman keeps its own.
    """

    processes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    iptables: list[str] = field(default_factory=list)
    host_files: list[str] = field(default_factory=list)
    sysctls: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(vars(self).values())

    def __str__(self) -> str:
        parts = [f"{name}: {', '.join(items)}" for name, items in vars(self).items() if items]
        return "; ".join(parts) or "nothing"


# --- processes ------------------------------------------------------------------------------


def _ancestors() -> set[int]:
    """Our own process and its ancestors (a CLI whose arguments name the state dir)."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def _program(pid: int) -> str:
    """The name of the executable a process runs (as /proc/<pid>/exe resolves it)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name.removesuffix(" (deleted)")
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def cgroup_dirs(name: str) -> list[Path]:
    """`<hierarchy>/<name>` in every mounted cgroup hierarchy (v1 controllers, name=, v2)."""
    return [root / name for root in cgroup_roots() if (root / name).is_dir()]


def cgroup_roots() -> list[Path]:
    roots = []
    for fields in _mountinfo():
        if fields["fstype"] in ("cgroup", "cgroup2"):
            roots.append(Path(fields["mountpoint"]))
    return roots


def _cgroup_pids(name: str) -> set[int]:
    pids: set[int] = set()
    for top in cgroup_dirs(name):
        for procs in top.rglob("cgroup.procs"):
            try:
                pids.update(int(p) for p in procs.read_text().split())
            except OSError:
                continue
    return pids


def our_processes(scope: Scope) -> dict[int, str]:
    """{pid: command line} of processes that belong to the node."""
    marker = f"{scope.state_dir}/"  # every component is given a file inside it
    mine = _ancestors()
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in mine:
            pid = int(entry.name)
            cmdline = _cmdline(pid)
            if marker in cmdline and _program(pid) in scope.programs:
                found[pid] = cmdline
    for pid in _cgroup_pids(scope.cgroup_name) - mine:
        found.setdefault(pid, _cmdline(pid) or f"pid {pid}")
    return found


def kill_processes(scope: Scope, timeout: float = 10) -> list[str]:
    """SIGKILL what is left (an orderly stop has already SIGTERMed the components)."""
    killed: list[str] = []
    deadline = time.monotonic() + timeout
    while (found := our_processes(scope)) and time.monotonic() < deadline:
        for pid, cmdline in found.items():
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(f"{pid} {cmdline[:120]}")
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    return sorted(set(killed))


# --- mounts ---------------------------------------------------------------------------------


def _unescape(path: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _mountinfo() -> Iterator[dict[str, str]]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fields = left.split()
        yield {
            "mountpoint": _unescape(fields[4]),
            "fstype": right.split()[0],
            "source": right.split()[1],
        }


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    prefix = str(path).rstrip("/")
    points = [
        m["mountpoint"]
        for m in _mountinfo()
        if m["mountpoint"] == prefix or m["mountpoint"].startswith(prefix + "/")
    ]
    return sorted(points, key=lambda p: p.count("/"), reverse=True)


def netns_mounts(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    return [m["mountpoint"] for m in _mountinfo() if m["fstype"] == "nsfs" and
            m["mountpoint"].startswith(prefix)]  # fmt: skip


def unmount_all(path: Path, attempts: int = 5) -> list[str]:
    """Unmount everything at or below `path` (stacked mounts too); lazily if busy."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    done: list[str] = []
    for _ in range(attempts):
        points = mounts_under(path)
        if not points:
            break
        for point in points:
            target = point.encode()
            if libc.umount2(target, 0) != 0 and libc.umount2(target, _MNT_DETACH) != 0:
                log.warning("umount %s: %s", point, os.strerror(ctypes.get_errno()))
                continue
            done.append(point)
    return done


# --- cgroups --------------------------------------------------------------------------------


def remove_cgroups(name: str, timeout: float = 10) -> list[str]:
    """rmdir `/<name>` and everything below it, leaves first, in every hierarchy."""
    removed: list[str] = []
    deadline = time.monotonic() + timeout
    while (tops := cgroup_dirs(name)) and time.monotonic() < deadline:
        for top in tops:
            for directory in sorted(
                (p for p in top.rglob("*") if p.is_dir()),
                key=lambda p: len(p.parts),
                reverse=True,
            ):
                _rmdir(directory, removed)
            _rmdir(top, removed)
        if cgroup_dirs(name):
            time.sleep(0.1)  # exited tasks leave a cgroup a moment after SIGKILL
    return [r for r in removed if Path(r).name == name]  # the tops; their children went too


def _rmdir(directory: Path, removed: list[str]) -> None:
    try:
        directory.rmdir()
        removed.append(str(directory))
    except OSError:
        pass


# --- network --------------------------------------------------------------------------------


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def delete_link(name: str) -> bool:
    if not link_exists(name):
        return False
    subprocess.run(["ip", "link", "delete", name], check=False, capture_output=True)  # noqa: S607
    return True


def sandbox_ids(scope: Scope) -> set[str]:
    """IDs of the Pod sandboxes (and containers) this node's containerd has known."""
    ids: set[str] = set()
    for base in (
        scope.containerd_root / "io.containerd.grpc.v1.cri" / "sandboxes",
        scope.containerd_state / "io.containerd.grpc.v1.cri" / "sandboxes",
        scope.containerd_state / "io.containerd.runtime.v2.task" / CRI_NAMESPACE,
    ):
        if base.is_dir():
            ids.update(p.name for p in base.iterdir())
    return ids


def cni_cache_files(scope: Scope) -> list[Path]:
    """libcni's result cache (/var/lib/cni/results) for our network and our sandboxes' loopback."""
    if not CNI_CACHE.is_dir():
        return []
    ids = sandbox_ids(scope)
    return [
        path
        for path in CNI_CACHE.iterdir()
        if path.name.startswith(f"{scope.network}-")
        or any(path.name == f"cni-loopback-{i}-lo" for i in ids)
    ]


def shim_sockets(scope: Scope) -> list[Path]:
    return [
        footprint.shim_socket(scope.containerd_address, CRI_NAMESPACE, i)
        for i in sandbox_ids(scope)
    ]


def removable_shared_chains(scope: Scope) -> list[str]:
    """portmap's shared chains that did not exist before the recorded run."""
    recorded = footprint.load(scope.state_dir)
    if recorded is None:
        return []
    before = set(recorded.get("shared_chains", []))
    return [c for c in iptables.SHARED_CNI_CHAINS if c not in before]


# --- everything -----------------------------------------------------------------------------


def clean(scope: Scope) -> list[str]:
    """Remove every leftover of the node in `scope`; returns what was done (for the log)."""
    done = [f"killed {p}" for p in kill_processes(scope)]
    done += [f"unmounted {m}" for m in unmount_all(scope.state_dir)]
    done += [f"removed cgroup {c}" for c in remove_cgroups(scope.cgroup_name)]
    if scope.host_wide:
        shared = removable_shared_chains(scope)
        done += [f"iptables {r}" for r in iptables.remove(scope.network, shared)]
        if delete_link(scope.bridge):
            done.append(f"deleted bridge {scope.bridge}")
        for path in cni_cache_files(scope):
            path.unlink(missing_ok=True)
            done.append(f"removed {path}")
        done += footprint.undo(scope.state_dir, shim_sockets(scope))
    for line in done:
        log.info("cleanup: %s", line)
    return done


def find_leftovers(scope: Scope) -> Leftovers:
    """What `clean` would remove, without removing it."""
    found = Leftovers(
        processes=[f"{pid} {cmd[:160]}" for pid, cmd in sorted(our_processes(scope).items())],
        mounts=[m for m in mounts_under(scope.state_dir) if m not in netns_mounts(scope.state_dir)],
        netns=netns_mounts(scope.state_dir),
        cgroups=[str(c) for c in cgroup_dirs(scope.cgroup_name)],
    )
    if scope.host_wide:
        found.links = [scope.bridge] if link_exists(scope.bridge) else []
        found.iptables = iptables.leftovers(scope.network, removable_shared_chains(scope))
        recorded = footprint.load(scope.state_dir)
        found.host_files = [
            str(p) for p in footprint.our_host_files(scope.state_dir, shim_sockets(scope))
        ]
        found.host_files += [str(p) for p in cni_cache_files(scope)]
        found.host_files += [f"{p}/" for p, _ in footprint.created_dirs(recorded)]
        found.sysctls = [
            f"{k.replace('/', '.')} (was {v})"
            for k, v in footprint.changed_sysctls(recorded).items()
        ]
    return found
