"""Start-up of `kubectl healthdemo`, a short-lived process per command: `--help`, and a
`timeline` against a real local API server holding the seed demo's recorded story
(tests/plugin/data/seed-demo.json); and what importing each candidate API client costs.

    .venv/bin/python bench/plugin_startup.py                   # no root: a control plane only
    .venv/bin/python bench/plugin_startup.py --pykube-python /path/to/venv/bin/python

Each command runs `--runs` times as its own process (after two warm-ups); wall time (median,
min), CPU (user+sys, the kernel's accounting of the child) and peak RSS (GNU time's, Debian
package `time`). `--pykube-python` is a Python with pykube-ng installed (the project does not
depend on it), for the client comparison. Machines are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from healthdemo_sandbox import bringup
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.paths import ROOT

RECORDING = ROOT / "tests" / "plugin" / "data" / "seed-demo.json"
PLUGIN = Path(sys.executable).parent / "kubectl-healthdemo"


TIME = Path("/usr/bin/time")  # GNU time: the child's own peak RSS (%M), never the bench's


def measure(command: list[str], runs: int, env: dict[str, str]) -> dict[str, float]:
    """Wall seconds (median, min), CPU seconds (median) and peak RSS in MB (max) of `command`.
    The RSS comes from GNU time's report on its own child: a child forked from this process
    would be charged this process's pages."""
    walls, cpus, rss = [], [], []
    for _ in range(runs + 2):  # two warm-ups: the page cache, .pyc files
        began = time.perf_counter()
        child = subprocess.Popen(
            [str(TIME), "-f", "%M", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        report = child.stderr.read().decode() if child.stderr else ""
        _, status, usage = os.wait4(child.pid, 0)
        walls.append(time.perf_counter() - began)
        cpus.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(command)} failed: {report}")
        rss.append(int(report.split()[-1]) / 1024)
    walls, cpus, rss = walls[2:], cpus[2:], rss[2:]
    return {
        "median": statistics.median(walls),
        "min": min(walls),
        "cpu": statistics.median(cpus),
        "rss": max(rss),
    }


def load_story(plane: ControlPlane) -> None:
    """The CRD, and the recorded HealthDemo (spec, status) and Events, in namespace default."""
    plane.kubectl("apply", "-f", str(ROOT / "crds"))
    plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    recorded = json.loads(RECORDING.read_text())
    healthdemo: dict[str, Any] = recorded["healthdemo"]
    body = {k: healthdemo[k] for k in ("apiVersion", "kind", "spec")}
    body["metadata"] = {"name": "demo", "namespace": "default"}
    plane.kubectl("apply", "-f", "-", input=json.dumps(body))
    patch = json.dumps({"status": healthdemo["status"]})
    plane.kubectl("patch", "healthdemo", "demo", "-n", "default", "--subresource=status",
                  "--type=merge", "-p", patch)  # fmt: skip
    for event in recorded["events"]:  # list items: no apiVersion, kind
        event.update(apiVersion="v1", kind="Event")
        event["metadata"] = {"name": event["metadata"]["name"], "namespace": "default"}
        event["involvedObject"] = {**event["involvedObject"], "namespace": "default"}
        event["involvedObject"].pop("uid", None)
        plane.kubectl("create", "-f", "-", input=json.dumps(event))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pykube-python", help="a Python with pykube-ng, to compare imports")
    args = parser.parse_args()
    plane = bringup.start_plane(bringup.find_binaries(allow_build=False))
    try:
        load_story(plane)
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig("admin")), "COLUMNS": "120"}
        python = sys.executable
        commands = {
            "python -c pass (the floor)": [python, "-c", "pass"],
            "kubectl healthdemo --help": [str(PLUGIN), "--help"],
            "kubectl healthdemo timeline demo": [str(PLUGIN), "timeline", "demo"],
            "kubectl get healthdemo demo (Go, for scale)": [
                str(plane.binaries["kubectl"]), "get", "healthdemo", "demo",
            ],
            "import kubernetes (the official client)": [python, "-c", "import kubernetes"],
            "import rich.console, rich.table": [python, "-c", "import rich.console, rich.table"],
        }  # fmt: skip
        if args.pykube_python:
            commands["import pykube (pykube-ng)"] = [args.pykube_python, "-c", "import pykube"]
            commands["python -c pass (pykube's Python)"] = [args.pykube_python, "-c", "pass"]
        print(f"{'command':<46} {'median':>8} {'min':>8} {'CPU':>8} {'RSS':>8}")
        for name, command in commands.items():
            m = measure(command, args.runs, env)
            print(
                f"{name:<46} {m['median'] * 1000:>6.0f}ms {m['min'] * 1000:>6.0f}ms "
                f"{m['cpu'] * 1000:>6.0f}ms {m['rss']:>6.1f}MB",
                flush=True,
            )
    finally:
        plane.stop()


if __name__ == "__main__":
    main()
