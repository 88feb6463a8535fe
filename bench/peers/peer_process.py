"""A benchmark peer (bench/peers/kopf_peer.py, bench/peers/go_peer/) as a local process.

Duck-types what bench/operator_bench.py uses of `LocalOperator`: `start()`, `stop()`, `kill()`,
`pid` and `health()`. A peer has no controller counters, so its `health()` carries none and the
benchmark takes "settled" to mean "the audit log shows no request from it for a while".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthdemo_sandbox.childprocess import ChildProcess
from healthdemo_sandbox.ports import free_port

HERE = Path(__file__).resolve().parent
KOPF_PEER = HERE / "kopf_peer.py"
GO_PEER = HERE / "go_peer"
GO_BINARY = Path.home() / ".cache" / "healthdemo" / "bench" / "go-peer"


class PeerProcess(ChildProcess):
    """One peer operator: `argv` run with `KUBECONFIG=kubeconfig`, its output in `log_path`.

    Ready when `ready()` says so (Kopf's liveness endpoint answers; the Go manager logged
    that its workers started, i.e. its caches synced)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        kubeconfig: Path,
        log_path: Path,
        *,
        liveness_port: int | None = None,
        ready_marker: str | None = None,
    ) -> None:
        super().__init__(log_path)
        self.name, self.argv, self.kubeconfig = name, argv, kubeconfig
        self.liveness_port, self.ready_marker = liveness_port, ready_marker

    # -- the two peers -----------------------------------------------------------------------

    @classmethod
    def kopf(cls, kubeconfig: Path, log_path: Path) -> PeerProcess:
        """`python -m kopf run --standalone --all-namespaces bench/peers/kopf_peer.py`."""
        port = free_port()
        argv = [
            sys.executable, "-m", "kopf", "run", "--standalone", "--all-namespaces",
            f"--liveness=http://127.0.0.1:{port}/healthz", str(KOPF_PEER),
        ]  # fmt: skip
        return cls("kopf-peer", argv, kubeconfig, log_path, liveness_port=port)

    @classmethod
    def go(cls, kubeconfig: Path, log_path: Path, binary: Path = GO_BINARY) -> PeerProcess:
        """The controller-runtime peer, built first (`go build`; quick when nothing changed)."""
        build_go_peer(binary)
        return cls("go-peer", [str(binary)], kubeconfig, log_path, ready_marker="Starting workers")

    # -- the LocalOperator surface the benchmark uses ----------------------------------------

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {timeout} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        checks: list[Callable[[], bool]] = []
        if self.liveness_port is not None:
            checks.append(lambda: self.health() is not None)
        if self.ready_marker is not None:
            marker = self.ready_marker
            checks.append(lambda: marker in self.log_text())
        return all(check() for check in checks)

    def health(self) -> dict[str, Any] | None:
        """Kopf's liveness endpoint (no controller counters in a peer), or None."""
        if self.liveness_port is None:
            return None
        try:
            url = f"http://127.0.0.1:{self.liveness_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as response:
                result: dict[str, Any] = json.loads(response.read() or b"{}")
                return result
        except (OSError, ValueError):
            return None


def build_go_peer(binary: Path = GO_BINARY) -> Path:
    """`go build` bench/peers/go_peer into `binary` (modules from GOPROXY, pinned by go.sum)."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    binary.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=GO_PEER,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"go build of the Go peer failed:\n{result.stderr}")
    return binary
