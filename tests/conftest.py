"""Suite-wide fixtures: the real control plane (session-scoped, started once)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from healthdemo_sandbox import binaries
from healthdemo_sandbox.controlplane import ControlPlane

REQUIRE_CONTROLPLANE = "HEALTHDEMO_REQUIRE_CONTROLPLANE"


def unavailable(reason: str, require_var: str) -> None:
    """Skip with one clear reason — or fail, where CI requires the real thing."""
    if os.environ.get(require_var) == "1":
        pytest.fail(f"{reason} ({require_var}=1: this must run here, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def controlplane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager from the real binaries, on loopback."""
    try:
        paths = binaries.ensure(binaries.CONTROL_PLANE, allow_build=False)
    except binaries.MissingBinaries as exc:
        unavailable(f"no control plane: {exc}", REQUIRE_CONTROLPLANE)
    plane = ControlPlane(paths)
    plane.start()
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in plane.timings.items())
    print(f"\ncontrol plane at {plane.server} started ({timings})", file=sys.stderr)
    yield plane
    plane.stop()
