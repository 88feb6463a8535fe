"""`python -m healthdemo_sandbox up` (`make sandbox`): the whole demo on this machine, as root.

Starts the control plane, a real node, the operator (in-cluster, from its image) and the sample
HealthDemo; prints how to reach them, then the HealthDemo table whenever it changes, until
Ctrl-C tears everything down.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from healthdemo_sandbox import binaries, images, releases
from healthdemo_sandbox.cluster import Sandbox
from healthdemo_sandbox.controlplane.processes import ProcessFailed, stop_on_signals
from healthdemo_sandbox.node import cgroups, runtime
from healthdemo_sandbox.node.host import NodeUnavailable
from healthdemo_sandbox.timings import describe

# The operator's /metrics, through the API server's service proxy (deploy/service.yaml).
METRICS = (
    "/api/v1/namespaces/healthdemo-system/services/healthdemo-operator-metrics:9090/proxy/metrics"
)


def up() -> int:
    if os.geteuid() != 0:
        print(
            "sandbox: needs root: it runs containerd and a kubelet on this machine. "
            "Run it as root (e.g. `sudo make sandbox`), after `sudo sandbox/setup-host.sh`.",
            file=sys.stderr,
        )
        return 2
    try:
        release = releases.selected()
    except releases.UnsupportedRelease as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    stopped = stop_on_signals()
    sandbox = Sandbox()
    print(
        f"starting the sandbox: Kubernetes {release.version}, containerd "
        f"{runtime.CONTAINERD_VERSION}, runc {runtime.RUNC_VERSION}, {cgroups.describe()} "
        "(the first run builds the binaries and images)..."
    )
    try:
        sandbox.start()
    except (binaries.MissingBinaries, NodeUnavailable, images.HostNotReady) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except ProcessFailed as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    try:
        plane = sandbox.running_plane
        print(f"\nHealthDemo sandbox is up ({describe(sandbox.timings)}).\n")
        print(f"  export KUBECONFIG={plane.kubeconfig('admin')}")
        print(f"  kubectl: {plane.binaries['kubectl']} (or any kubectl {release.kubectl_skew})")
        print("  kubectl get healthdemos          # the table below, live")
        ip = None
        while ip is None and not stopped.wait(0.5):
            ip = sandbox.pod_ip("demo-webapp")
        if ip:
            print(f"\n  the webapp:   http://{ip}:5000/   (a browser gets a page to click)")
            print(f"  break it:     curl http://{ip}:5000/start-failing")
        plugin = Path(sys.executable).parent
        print(f"\n  export PATH={plugin}:$PATH      # kubectl-healthdemo, our kubectl plugin")
        print("  kubectl healthdemo break demo    # through the API server: no port-forward")
        print("  kubectl healthdemo timeline demo # failures, kill, restart, ready again")
        print(f"  kubectl get --raw {METRICS}   # the operator's metrics")
        print("\nCtrl-C stops everything.\n", flush=True)
        last = ""
        while not stopped.wait(1):
            table = plane.kubectl("get", "healthdemos", "-A", check=False).stdout
            ageless = "\n".join(line.rsplit(None, 1)[0] for line in table.splitlines() if line)
            if ageless != last:  # print when the story changes, not when AGE ticks
                print(table, flush=True)
                last = ageless
    finally:
        print("stopping...", flush=True)
        sandbox.stop()
        print("stopped; nothing left running.")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m healthdemo_sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the whole demo until Ctrl-C (needs root)")
    parser.parse_args()
    sys.exit(up())


if __name__ == "__main__":
    main()
