"""kube-scheduler: binds Pods to the node, as `system:kube-scheduler`.

Its own TLS port on loopback for /healthz; `--authentication-skip-lookup` because the API server
has no request-header CA, so the scheduler would log an error per second looking it up;
`--leader-elect=false`: there is one.
"""

from __future__ import annotations

from pathlib import Path

from healthdemo_sandbox.controlplane.processes import ManagedProcess


def process(binary: Path, kubeconfig: Path, port: int, log: Path) -> ManagedProcess:
    return ManagedProcess(
        "kube-scheduler",
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--authentication-skip-lookup=true",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--leader-elect=false",
            "--profiling=false",
        ],
        log,
    )
