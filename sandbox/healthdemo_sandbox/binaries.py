"""Find the Kubernetes binaries, in controller-runtime envtest's order, or build them with Go.

Order per binary: TEST_ASSET_<NAME> (e.g. TEST_ASSET_KUBE_APISERVER), then
$KUBEBUILDER_ASSETS/<name>, then our cache (~/.cache/healthdemo/kube/<version>/bin, one directory
per release side by side), then a build of the selected release (`releases.selected()`) from
`sandbox/kubebin/` with Go. A user with envtest assets needs no Go.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from healthdemo_sandbox import releases
from healthdemo_sandbox.paths import ROOT, cache_root

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
NODE = ("kubelet", "kube-scheduler", "kube-proxy")
ALL = CONTROL_PLANE + NODE

KUBEBIN_DIR = ROOT / "sandbox" / "kubebin"


class MissingBinaries(RuntimeError):
    """Some binaries are neither provided nor buildable; the message says how to get them."""


def cache_dir(release: releases.Release | None = None) -> Path:
    return cache_root() / "kube" / (release or releases.selected()).version / "bin"


def built(release: releases.Release | None = None) -> Path:
    """The stamp sandbox/kubebin/build.sh writes once a release's binaries all work."""
    release = release or releases.selected()
    return cache_dir(release) / f".built-{release.version}"


def env_var(name: str) -> str:
    return "TEST_ASSET_" + name.upper().replace("-", "_")


def find(name: str) -> Path | None:
    """The first executable for `name` in envtest's lookup order, without building anything."""
    candidates: list[Path] = []
    if explicit := os.environ.get(env_var(name)):
        candidates.append(Path(explicit))
    if assets := os.environ.get("KUBEBUILDER_ASSETS"):
        candidates.append(Path(assets) / name)
    if built().exists():
        candidates.append(cache_dir() / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def build(release: releases.Release | None = None) -> Path:
    """Build every binary of `release` (default: the selected one) with Go into the cache
    (minutes when cold; a no-op when built)."""
    release = release or releases.selected()
    if shutil.which("go") is None:
        raise MissingBinaries(
            "Go is not installed, so the Kubernetes binaries cannot be built. Either install Go "
            "(https://go.dev/dl/) or point KUBEBUILDER_ASSETS at envtest assets for "
            f"{release.version} (`setup-envtest use {release.minor}.x -p path`) plus "
            "kube-controller-manager, "
            "or set "
            "TEST_ASSET_ETCD / TEST_ASSET_KUBE_APISERVER / TEST_ASSET_KUBE_CONTROLLER_MANAGER / "
            "TEST_ASSET_KUBECTL."
        )
    target = cache_dir(release)
    subprocess.run(
        ["bash", str(KUBEBIN_DIR / "build.sh"), release.version, str(target)],  # noqa: S607
        check=True,
    )
    return target


def ensure(names: Iterable[str], *, allow_build: bool = True) -> dict[str, Path]:
    """Paths of all `names`; builds missing ones with Go if allowed, else raises MissingBinaries."""
    wanted = list(names)
    found = {name: find(name) for name in wanted}
    missing = [name for name, path in found.items() if path is None]
    if missing and allow_build:
        build()
        found = {name: find(name) for name in wanted}
        missing = [name for name, path in found.items() if path is None]
    if missing:
        raise MissingBinaries(
            f"missing Kubernetes {releases.selected().version} binaries: {', '.join(missing)} "
            "(looked in "
            f"{', '.join(env_var(n) for n in missing)}, $KUBEBUILDER_ASSETS, {cache_dir()}). "
            "Build them with `make kube-binaries` (needs Go)."
        )
    return {name: path for name, path in found.items() if path is not None}
