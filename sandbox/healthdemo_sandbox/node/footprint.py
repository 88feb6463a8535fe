"""What a node changes outside its state directory, recorded before it starts and undone after.

Most paths are ours to choose, but a few are fixed in the binaries:
- the kubelet's device-plugin socket, `/var/lib/kubelet/device-plugins/kubelet.sock`;
- the kubelet's FlexVolume directory, /usr/libexec/kubernetes/kubelet-plugins/volume/exec, unless
  `volumePluginDir` points elsewhere (ours does: it is checked for, not expected);
- the kubelet's `/var/log/containers/*.log` symlinks (into our `podLogsDir`);
- containerd's shim sockets, `/run/containerd/s/<sha256(address/namespace/id)>`.
The kubelet also sets kernel tunables at start (with `protectKernelDefaults: false`):
kernel.panic=10, kernel.panic_on_oops=1, vm.overcommit_memory=1, vm.panic_on_oom=0 and the root
key quotas. We record the values before, and write them back after the node stops.

The record is `footprint.json` in the state directory, so the clean-up after a crash (at the next
start) undoes exactly what the crashed run did.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FILE_NAME = "footprint.json"
# Host directories a node may create, children first: removed after a run if they did not exist
# before it. Those marked True were wholly made by the node (removed with their content); the
# others only if empty.
HOST_DIRS: tuple[tuple[str, bool], ...] = (
    ("/var/lib/kubelet/device-plugins", True),
    ("/var/lib/kubelet", False),
    ("/var/log/containers", False),
    ("/var/log/pods", False),
    ("/run/containerd/s", False),
    ("/run/containerd", False),
    # The FlexVolume dir, if a kubelet ever runs without our `volumePluginDir` (kubelet.py).
    ("/usr/libexec/kubernetes", True),
)
CONTAINER_LOG_LINKS = Path("/var/log/containers")
SHIM_SOCKETS = Path("/run/containerd/s")
KUBELET_SYSCTLS = (
    "kernel/panic",
    "kernel/panic_on_oops",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
SYSCTL_ROOT = Path("/proc/sys")


def read_sysctl(key: str) -> str | None:
    try:
        return (SYSCTL_ROOT / key).read_text().strip()
    except OSError:
        return None


def write_sysctl(key: str, value: str) -> None:
    (SYSCTL_ROOT / key).write_text(value + "\n")


def record(state_dir: Path, shared_chains: Iterable[str]) -> None:
    """Write what exists now: host dirs, the kubelet's sysctls, portmap's shared chains."""
    footprint = {
        "dirs": {path: Path(path).exists() for path, _ in HOST_DIRS},
        "sysctls": {key: read_sysctl(key) for key in KUBELET_SYSCTLS},
        "shared_chains": sorted(shared_chains),
    }
    (state_dir / FILE_NAME).write_text(json.dumps(footprint, indent=2) + "\n")


def load(state_dir: Path) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = json.loads((state_dir / FILE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return loaded


def shim_socket(address: Path, namespace: str, container_id: str) -> Path:
    """containerd's socket path for a shim (pkg/shim.SocketAddress; the same in 1.6 and 2.4)."""
    digest = hashlib.sha256(f"{address}/{namespace}/{container_id}".encode()).hexdigest()
    return SHIM_SOCKETS / digest


def our_host_files(state_dir: Path, shim_sockets: Iterable[Path]) -> list[Path]:
    """Files of ours in shared host directories: log symlinks into `state_dir`, shim sockets."""
    found = [path for path in shim_sockets if path.exists() or path.is_symlink()]
    if CONTAINER_LOG_LINKS.is_dir():
        for link in CONTAINER_LOG_LINKS.iterdir():
            if link.is_symlink() and str(link.readlink()).startswith(f"{state_dir}/"):
                found.append(link)
    return found


def created_dirs(footprint: dict[str, Any] | None) -> list[tuple[Path, bool]]:
    """Host dirs the recorded run created that still exist, with whether to remove their content."""
    if footprint is None:
        return []
    existed: dict[str, bool] = footprint.get("dirs", {})
    return [
        (Path(path), whole)
        for path, whole in HOST_DIRS
        if existed.get(path) is False and Path(path).exists()
    ]


def changed_sysctls(footprint: dict[str, Any] | None) -> dict[str, str]:
    """The recorded sysctl values that differ from now: {key: value to restore}."""
    if footprint is None:
        return {}
    before: dict[str, str | None] = footprint.get("sysctls", {})
    return {
        key: value
        for key, value in before.items()
        if value is not None and read_sysctl(key) not in (None, value)
    }


def undo(state_dir: Path, shim_sockets: Iterable[Path]) -> list[str]:
    """Remove our host files and created dirs, restore sysctls, drop the record; what was done."""
    done: list[str] = []
    for path in our_host_files(state_dir, shim_sockets):
        path.unlink(missing_ok=True)
        done.append(f"removed {path}")
    footprint = load(state_dir)
    for path, whole in created_dirs(footprint):
        if whole:
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.rmdir()
            except OSError:
                continue  # not empty: someone else uses it now
        done.append(f"removed {path}/")
    for key, value in changed_sysctls(footprint).items():
        write_sysctl(key, value)
        done.append(f"restored {key.replace('/', '.')}={value}")
    (state_dir / FILE_NAME).unlink(missing_ok=True)
    return done
