"""The node's container runtime, containerd 2 and runc, built from their Go modules into our cache.

The same runtime serves every Kubernetes release (`releases.py`): containerd 2 reports its cgroup
driver to the kubelet over the CRI (containerd 1.x did not, and Kubernetes 1.38 drops the
kubelet's fallback for it). runc is the release containerd's own CI tests it with
(`script/setup/runc-version` in containerd's module). `sandbox/runtime/build.sh` builds them;
podman keeps Debian's runc for image builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from healthdemo_sandbox.binaries import MissingBinaries
from healthdemo_sandbox.paths import ROOT, cache_root

CONTAINERD_VERSION = "v2.4.2"
RUNC_VERSION = "v1.5.2"
BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "runc")
BUILD_SCRIPT = ROOT / "sandbox" / "runtime" / "build.sh"


class RuntimeMissing(MissingBinaries):
    """The runtime is not built and cannot be built here; the message says how to get it."""


def bin_dir() -> Path:
    return cache_root() / "runtime" / f"containerd-{CONTAINERD_VERSION}-runc-{RUNC_VERSION}"


def find() -> dict[str, Path]:
    """{name: path} of the built runtime, or {} when it is not (completely) built."""
    directory = bin_dir()
    paths = {name: directory / name for name in BINARIES}
    complete = (directory / ".built").exists() and all(
        os.access(path, os.X_OK) for path in paths.values()
    )
    return paths if complete else {}


def build() -> dict[str, Path]:
    """Build containerd and runc with Go (a minute or two when cold; a no-op when built)."""
    if shutil.which("go") is None:
        raise RuntimeMissing(
            "Go is not installed, so the node's runtime (containerd "
            f"{CONTAINERD_VERSION}, runc {RUNC_VERSION}) cannot be built; install Go"
        )
    subprocess.run(
        ["bash", str(BUILD_SCRIPT), CONTAINERD_VERSION, RUNC_VERSION, str(bin_dir())],  # noqa: S607
        check=True,
    )
    return find()


def ensure(*, allow_build: bool = True) -> dict[str, Path]:
    """The runtime's binaries, built if allowed; RuntimeMissing says how to get them."""
    found = find()
    if not found and allow_build:
        found = build()
    if not found:
        raise RuntimeMissing(
            f"the node's runtime (containerd {CONTAINERD_VERSION}, runc {RUNC_VERSION}) is not "
            f"built in {bin_dir()}; build it with `make kube-binaries` (needs Go and, for runc, "
            "libseccomp-dev from sandbox/setup-host.sh)"
        )
    return found
