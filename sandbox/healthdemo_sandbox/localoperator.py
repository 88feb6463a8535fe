"""The operator as a local process (`kopf run operator/main.py`), for tests and benchmarks.

It runs as whatever identity the kubeconfig holds (in the tests: the operator's ServiceAccount,
with exactly deploy/'s RBAC), and can be stopped, or killed like a crash. Its liveness endpoint
and its metrics get free ports of their own (kept across restarts), so that several run side by
side.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from healthdemo_sandbox import probes, waiting
from healthdemo_sandbox.childprocess import ChildProcess
from healthdemo_sandbox.paths import ROOT
from healthdemo_sandbox.ports import free_ports


class LocalOperator(ChildProcess):
    """`kopf run operator/main.py` as a local process, as the operator's ServiceAccount.

    Standalone by default; with `peering` it joins that peering like the deployed replicas.
    """

    def __init__(
        self, kubeconfig: Path, log_path: Path, *extra: str, peering: str | None = None
    ) -> None:
        super().__init__(log_path)
        self.kubeconfig, self.extra = kubeconfig, extra
        self.peering = peering
        self.port, self.metrics_port = free_ports(2)  # distinct: one process binds both

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HEALTHDEMO_METRICS_PORT": str(self.metrics_port),
        }
        peering = f"--peering={self.peering}" if self.peering else "--standalone"
        argv = [
            sys.executable, "-m", "kopf", "run", peering, "--all-namespaces",
            f"--liveness=http://127.0.0.1:{self.port}/healthz", *self.extra,
            str(ROOT / "operator" / "main.py"),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        proc = self.proc

        def healthy() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"operator exited at start:\n{self.log_tail()}")
            return self.health() is not None

        if waiting.poll(healthy, timeout=timeout, interval=0.1):
            return
        raise RuntimeError(f"operator not healthy within {timeout} s:\n{self.log_tail()}")

    def health(self) -> dict[str, Any] | None:
        """Kopf's liveness endpoint (our probe handlers' results), or None if not answering."""
        try:
            result: dict[str, Any] = probes.get_json(
                f"http://127.0.0.1:{self.port}/healthz", timeout=1
            )
        except OSError:
            return None
        return result

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def forbidden(self) -> list[str]:
        """Log lines that show RBAC refused the operator something (its grants too narrow).

        A 403 for creating in a terminating namespace is the API's rule, not RBAC's."""
        return [
            line
            for line in self.log_text().splitlines()
            if ("(403)" in line or "forbidden" in line.lower()) and "being terminated" not in line
        ]
