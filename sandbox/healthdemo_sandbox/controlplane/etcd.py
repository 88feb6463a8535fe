"""etcd: the API server's store, one member on loopback, thrown away with the work directory."""

from __future__ import annotations

from pathlib import Path

from healthdemo_sandbox import probes
from healthdemo_sandbox.controlplane.processes import ManagedProcess


def process(
    binary: Path, data_dir: Path, client_port: int, peer_port: int, log: Path
) -> ManagedProcess:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return ManagedProcess(
        "etcd",
        [
            str(binary),
            "--name=sandbox",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sandbox={peer}",
            "--unsafe-no-fsync=true",  # a throw-away store: durability buys nothing here
            "--log-level=warn",
        ],
        log,
    )


def healthy(url: str) -> bool:
    """etcd's /health says so (it answers before it has a leader, with health "false")."""
    return bool(probes.get_json(url + "/health", timeout=1).get("health") == "true")
