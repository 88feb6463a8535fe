"""The whole sandbox (`make sandbox`): control plane + a real node + our images + the operator
deployed from deploy/ exactly as users deploy it + the sample HealthDemo.

    with Sandbox() as sandbox:      # seconds when everything is built; minutes the first time
        sandbox.running_plane.kubectl("get", "healthdemos")

Every step is `bringup`'s, in its order; this class only holds what it started.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from healthdemo_sandbox import bringup
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.lifecycle import Lifecycle
from healthdemo_sandbox.node.node import Node
from healthdemo_sandbox.paths import ROOT, cache_root
from healthdemo_sandbox.timings import timed

DEMO = ROOT / "deploy" / "demo-cr.yaml"


class Sandbox(Lifecycle):
    """Start with `start()` or `with`; `stop()` tears it all down and leaves nothing running."""

    def __init__(self, workdir: Path | None = None, *, demo: bool = True) -> None:
        self.workdir = workdir or cache_root() / "sandbox"
        self.demo = demo
        self.timings: dict[str, float] = {}
        self.plane: ControlPlane | None = None
        self.node: Node | None = None

    def start(self) -> None:
        began = time.monotonic()
        paths = timed(self.timings, "binaries", lambda: bringup.find_binaries(node=True))
        _, archive = bringup.node_images(self.timings)
        shutil.rmtree(self.workdir, ignore_errors=True)  # a fresh cluster every time
        self.workdir.mkdir(parents=True)
        try:
            self.plane = timed(
                self.timings,
                "controlplane",
                lambda: bringup.start_plane(
                    paths, workdir=self.workdir / "controlplane", for_node=True
                ),
            )
            self.node = timed(
                self.timings,
                "node",
                lambda: bringup.start_node(self._plane, paths, images=[archive]),
            )
            timed(self.timings, "install", lambda: bringup.install(self._plane))
            timed(self.timings, "operator", lambda: bringup.wait_operator(self._plane))
            if self.demo:
                self._plane.kubectl("apply", "-f", str(DEMO))
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None
        if self.plane is not None:
            self.plane.stop()
            self.plane = None

    @property
    def running_plane(self) -> ControlPlane:
        return self._plane

    @property
    def _plane(self) -> ControlPlane:
        if self.plane is None:
            raise RuntimeError("the sandbox is not running")
        return self.plane

    def healthdemo(self, name: str = "demo", namespace: str = "default") -> dict[str, Any]:
        out = self._plane.kubectl("get", "healthdemo", name, "-n", namespace, "-o", "json")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def pod_ip(self, name: str, namespace: str = "default") -> str | None:
        out = self._plane.kubectl(
            "get", "pod", name, "-n", namespace, "-o", "jsonpath={.status.podIP}", check=False
        )
        return out.stdout.strip() or None
