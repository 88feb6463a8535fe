"""The README's picture: `kubectl healthdemo timeline demo` after a real run of the seed's demo.

The sandbox's bring-up recipe (a real node, the operator deployed from deploy/, the sample
deploy/demo-cr.yaml), then `kubectl healthdemo break demo` (/start-failing through the Pod proxy),
the kubelet's restart, the operator's record of it and the Pod ready again; then the timeline,
drawn by the plugin's own renderer into an SVG (rich's recording console). As root, like
`make sandbox`:

    .venv/bin/python docs/make_timeline.py                  # writes docs/timeline.svg
    .venv/bin/python docs/make_timeline.py --record tests/plugin/data/seed-demo.json

`--record` also keeps the HealthDemo and the Events it was drawn from (the unit tests replay them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from healthdemo_sandbox import bringup, waiting
from healthdemo_sandbox.paths import ROOT
from kubectl_healthdemo import commands, render
from kubectl_healthdemo.connect import connect
from rich.console import Console

DEMO = ROOT / "deploy" / "demo-cr.yaml"
NAME = "demo"


def status(kubeconfig: Path) -> dict[str, Any]:
    found = commands.load_healthdemo(connect(str(kubeconfig), None, None), NAME)
    result: dict[str, Any] = found.get("status") or {}
    return result


def until(what: str, check: Any, timeout: float = 120) -> Any:
    """`check()` until it is truthy, or stop with what did not happen."""
    began = time.monotonic()
    found = waiting.poll(check, timeout=timeout, interval=0.5)
    if not found:
        sys.exit(f"make_timeline: {what} did not happen within {timeout:.0f} s")
    print(f"  {what} ({time.monotonic() - began:.1f} s)", flush=True)
    return found


def ready(found: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in found.get("conditions") or []}
    return found.get("phase") == "Running" and conditions.get("Ready") == "True"


def run_demo(kubeconfig: Path, plugin: str) -> None:
    """The seed's demo: ready, broken, restarted, recorded, ready again."""
    until("demo Running and Ready", lambda: ready(status(kubeconfig)))
    broke = subprocess.run(
        [plugin, "break", NAME, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        check=True,
    )
    print("$ kubectl healthdemo break demo\n" + broke.stdout, flush=True)

    def recovered() -> bool:
        found = status(kubeconfig)
        history = found.get("history") or []
        return bool(history) and history[0].get("recoverySeconds") is not None and ready(found)

    until("restart recorded, ready again", recovered)


def draw(kubeconfig: Path, out: Path, width: int, record: Path | None) -> None:
    api = connect(str(kubeconfig), None, None)
    healthdemo = commands.load_healthdemo(api, NAME)
    events = commands.events_for(api, healthdemo)
    story = commands.load_timeline(api, NAME)
    console = Console(record=True, width=width)
    console.print("$ kubectl healthdemo timeline demo", style="bold")
    console.print(render.render(story))
    console.save_svg(str(out), title="kubectl healthdemo timeline demo")
    print(f"wrote {out}")
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"healthdemo": healthdemo, "events": events}, indent=1) + "\n")
        print(f"wrote {record}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "timeline.svg")
    parser.add_argument("--width", type=int, default=150, help="columns of the picture")
    parser.add_argument("--record", type=Path, help="also write the HealthDemo and its Events")
    args = parser.parse_args()
    plugin = shutil.which("kubectl-healthdemo", path=str(Path(sys.executable).parent))
    if plugin is None:
        sys.exit("make_timeline: kubectl-healthdemo is not installed next to this Python")
    paths = bringup.find_binaries(node=True)
    _, archive = bringup.node_images()
    with tempfile.TemporaryDirectory(prefix="healthdemo-timeline-") as workdir:
        plane = bringup.start_plane(paths, workdir=Path(workdir) / "controlplane", for_node=True)
        try:
            node = bringup.start_node(plane, paths, images=[archive], lock_timeout=300)
            try:
                bringup.install(plane)
                bringup.wait_operator(plane)
                plane.kubectl("apply", "-f", str(DEMO))
                kubeconfig = plane.kubeconfig("admin")
                run_demo(kubeconfig, plugin)
                draw(kubeconfig, args.out, args.width, args.record)
            finally:
                node.stop()
        finally:
            plane.stop()


if __name__ == "__main__":
    main()
