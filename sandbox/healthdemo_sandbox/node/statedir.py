"""The node's state directory between runs: what is kept, what is wiped.

Kept after a clean stop: the logs (for a post-mortem) and, unless asked otherwise, containerd's
image store (`containerd/root`: content, unpacked layers, metadata), so the next start need not
import the images again (about 11 s). Everything else - certificates, configs, Pod volumes,
runtime state - is removed. After a crash the image store is wiped too: it may hold containers
and sandboxes that the new run's containerd would try to recover.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from healthdemo_sandbox.node import cleanup, kubelet, network
from healthdemo_sandbox.paths import cache_root

LOGS = ("logs", "pod-logs")
IMAGE_STORE = Path("containerd") / "root"


def default_state_dir() -> Path:
    """Fixed, not temporary, so that a crashed run's leftovers are found at the next start."""
    return cache_root() / "node"


def scope_for(state_dir: Path) -> cleanup.Scope:
    """The names that identify a node's leftovers (for `cleanup.find_leftovers`/`clean`)."""
    return cleanup.Scope(
        state_dir.absolute(),
        cgroup_name=kubelet.CGROUP_ROOT,
        bridge=network.BRIDGE,
        network=network.NETWORK_NAME,
    )


def kept(state_dir: Path, *, images: bool) -> set[Path]:
    paths = {state_dir / name for name in LOGS}
    if images:
        paths.add(state_dir / IMAGE_STORE)
    return paths


def remove_except(root: Path, keep: Iterable[Path]) -> None:
    """Remove everything below `root` except the `keep` paths (and the dirs leading to them)."""
    keep = set(keep)
    if cleanup.mounts_under(root):
        raise RuntimeError(f"mounts remain under {root}; not removing files below it")
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry in keep:
            continue
        if any(entry in path.parents for path in keep):
            remove_except(entry, keep)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
