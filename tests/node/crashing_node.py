"""Run by the node fixture as a child process and then SIGKILLed: a node run that crashes.

Starts a control plane and a node, runs the seed Pod, prints "UP", and waits to be killed. The
kill takes containerd, the kubelet and the control plane with it (PDEATHSIG), but not the shims
and containers: exactly what a crashed test session leaves for the next start to clean.
Usage: python crashing_node.py <images archive> <control-plane workdir>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from healthdemo_sandbox import bringup
from healthdemo_sandbox.paths import ROOT

SEED_POD = ROOT / "deploy" / "pod-healthcheck.yaml"


def main(archive: Path, workdir: Path) -> None:
    paths = bringup.find_binaries(node=True, allow_build=False)
    plane = bringup.start_plane(paths, workdir=workdir, for_node=True)
    bringup.start_node(plane, paths, images=[archive], lock_timeout=120)
    plane.kubectl("apply", "-f", str(SEED_POD))
    plane.kubectl("wait", "--for=condition=Ready", "pod/flask-webapp-healthcheck-test",
                  "--timeout=60s", timeout=70)  # fmt: skip
    print("UP", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
