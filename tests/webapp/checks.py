"""Each kind of probe call, made as the kubelet makes it, against a served webapp."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .conftest import Served

Status = health_pb2.HealthCheckResponse


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def grpc_status(
    served: Served, service: str, user_agent: str | None = None, deadline: float = 5
) -> int:
    """Health/Check; `user_agent` as the kubelet's gRPC prober sets it (kube-probe/<version>);
    `deadline` in seconds from now, as the kubelet sets it (its start plus timeoutSeconds)."""
    options = [("grpc.primary_user_agent", user_agent)] if user_agent else []
    address = f"127.0.0.1:{served.ports['GRPC_PORT']}"
    with grpc.insecure_channel(address, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=deadline)
        return int(reply.status)


def exec_check(served: Served, probe: str) -> int:
    port = served.url.rsplit(":", 1)[1]
    env = {**os.environ, "PORT": port}
    done = subprocess.run(
        [sys.executable, "-m", "webapp.check", probe],
        check=False,
        env=env,
        capture_output=True,
        timeout=10,
    )
    return done.returncode
