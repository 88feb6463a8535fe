"""Which cgroup version this host gives the kubelet, said in every run because it shows in lessons.

On cgroup v2 the kubelet sets `memory.oom.group`, so an OOM kill in any process of a container
ends the whole container (`OOMKilled`); on v1 (and hybrid, where the controllers are all v1) only
the process the kernel chose dies. Kubernetes 1.35+ starts on v1 only with `failCgroupV1: false`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Mode = Literal["v2", "hybrid", "v1"]
CGROUP_FS = Path("/sys/fs/cgroup")


def mode(root: Path = CGROUP_FS) -> Mode:
    """v2 (unified: /sys/fs/cgroup is cgroup2), hybrid (v1 controllers plus a controller-less v2
    hierarchy at `unified`), or v1 (legacy: v1 only)."""
    if (root / "cgroup.controllers").exists():
        return "v2"
    if (root / "unified" / "cgroup.controllers").exists():
        return "hybrid"
    return "v1"


def describe(root: Path = CGROUP_FS) -> str:
    """One phrase for logs and the CI output: what the kubelet runs on here."""
    found = mode(root)
    if found == "v2":
        return "cgroup v2"
    detail = "v1 controllers with a v2 hierarchy beside them" if found == "hybrid" else "legacy"
    return f"cgroup v1 ({detail}; the kubelet runs it as v1)"
