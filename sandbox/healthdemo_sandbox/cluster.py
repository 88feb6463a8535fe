"""The whole sandbox (`make sandbox`): control plane + a real node + our images + the operator
deployed from deploy/ exactly as users deploy it + the sample HealthDemo.

    with Sandbox() as sandbox:      # seconds when everything is built; minutes the first time
        sandbox.plane.kubectl("get", "healthdemos")
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from healthdemo_sandbox import binaries, images, node
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.node import archives

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_NAMESPACE = "healthdemo-system"


def install(plane: ControlPlane) -> None:
    """crds/ (and wait until established), then deploy/ — the README's two kubectl commands."""
    plane.kubectl("apply", "-f", str(ROOT / "crds"))
    plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    plane.kubectl("apply", "-k", str(ROOT / "deploy"))


def wait_operator(plane: ControlPlane, timeout: int = 120) -> None:
    """Until the operator's Deployment has its replica running and live."""
    plane.kubectl(
        "rollout", "status", "deployment/healthdemo-operator", "-n", OPERATOR_NAMESPACE,
        f"--timeout={timeout}s", timeout=timeout + 10,
    )  # fmt: skip


class Sandbox:
    """Start with `start()` or `with`; `stop()` tears it all down and leaves nothing running."""

    def __init__(self, workdir: Path | None = None, *, demo: bool = True) -> None:
        self.workdir = workdir or images.cache_dir() / "sandbox"
        self.demo = demo
        self.timings: dict[str, float] = {}
        self.plane: ControlPlane | None = None
        self.node: node.Node | None = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        began = time.monotonic()
        paths = self._timed("binaries", lambda: binaries.ensure(binaries.ALL))
        worker_paths = node.require(paths)  # root, containerd, runc, CNI: or a clear message
        self._timed("images", images.build_all)
        archive = self._timed("archive", archives.node_archive)
        shutil.rmtree(self.workdir, ignore_errors=True)  # a fresh cluster every time
        self.workdir.mkdir(parents=True)
        address = node.host_address()
        self.plane = ControlPlane(
            paths,
            workdir=self.workdir / "controlplane",
            bind_address=address,
            advertise_address=address,
            controllers=node.CONTROLLERS,
        )
        try:
            self._timed("controlplane", self.plane.start)
            self.node = node.Node(self.plane, binaries=worker_paths, images=[archive])
            self._timed("node", self.node.start)
            self._timed("install", lambda: install(self._plane))
            self._timed("operator", lambda: wait_operator(self._plane))
            if self.demo:
                self._plane.kubectl("apply", "-f", str(ROOT / "deploy" / "demo-cr.yaml"))
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

    def _timed(self, name: str, action: Any) -> Any:
        began = time.monotonic()
        result = action()
        self.timings[name] = time.monotonic() - began
        return result

    def healthdemo(self, name: str = "demo", namespace: str = "default") -> dict[str, Any]:
        out = self._plane.kubectl("get", "healthdemo", name, "-n", namespace, "-o", "json")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def pod_ip(self, name: str, namespace: str = "default") -> str | None:
        out = self._plane.kubectl(
            "get", "pod", name, "-n", namespace, "-o", "jsonpath={.status.podIP}", check=False
        )
        return out.stdout.strip() or None
