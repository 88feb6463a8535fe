"""`python -m healthdemo_sandbox.controlplane up`: a real control plane until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from healthdemo_sandbox import binaries
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.controlplane.processes import ProcessFailed, stop_on_signals
from healthdemo_sandbox.timings import describe


def up(workdir: Path | None) -> int:
    try:
        paths = binaries.ensure(binaries.CONTROL_PLANE)
    except binaries.MissingBinaries as exc:
        print(f"controlplane: {exc}", file=sys.stderr)
        return 2
    stopped = stop_on_signals()
    plane = ControlPlane(paths, workdir=workdir)
    try:
        plane.start()
    except ProcessFailed as exc:
        print(f"controlplane: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"control plane up at {plane.server} ({describe(plane.timings)})")
        print(f"  export KUBECONFIG={plane.kubeconfig('admin')}        # admin (system:masters)")
        print(f"  operator identity:  {plane.kubeconfig('operator')}")
        if plane.audit_log:
            print(f"  audit log:          {plane.audit_log}")
        print(f"  logs:               {plane.workdir / 'logs'}")
        print("Ctrl-C stops everything.", flush=True)
        stopped.wait()
    finally:
        print("stopping...", flush=True)
        plane.stop()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m healthdemo_sandbox.controlplane")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="start etcd, kube-apiserver, kube-controller-manager")
    up_parser.add_argument("--workdir", type=Path, help="keep state here (default: a temp dir)")
    sub.add_parser("build", help="find, or build with Go, every Kubernetes binary we use")
    args = parser.parse_args()
    if args.command == "build":
        try:
            for name, path in binaries.ensure(binaries.ALL).items():
                print(f"{name:<24} {path}")
        except binaries.MissingBinaries as exc:
            sys.exit(f"controlplane: {exc}")
        return
    sys.exit(up(args.workdir))


if __name__ == "__main__":
    main()
