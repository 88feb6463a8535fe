"""One switch breaks every kind of probe alike: HTTP, TCP, exec and gRPC, against a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..conftest import eventually
from .conftest import Served, serve

Status = health_pb2.HealthCheckResponse


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def grpc_status(served: Served, service: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{served.ports['GRPC_PORT']}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
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


def test_start_failing_breaks_and_stop_failing_heals_every_kind(served: Served) -> None:
    live = served.ports["TCP_LIVENESS_PORT"]
    assert eventually(lambda: tcp_open(live), 10, "TCP liveness port open")
    assert grpc_status(served, "") == Status.SERVING
    assert grpc_status(served, "liveness") == Status.SERVING
    assert exec_check(served, "liveness") == 0

    served.call("/start-failing", method="POST")
    assert served.call("/healthz")[0] == 500
    assert not tcp_open(live)
    assert grpc_status(served, "liveness") == Status.NOT_SERVING
    assert exec_check(served, "liveness") == 1
    # Liveness only: readiness still passes everywhere.
    assert tcp_open(served.ports["TCP_READINESS_PORT"])
    assert grpc_status(served, "readiness") == Status.SERVING

    served.call("/stop-failing", method="POST")
    assert served.call("/healthz")[0] == 200
    assert tcp_open(live)
    assert grpc_status(served, "liveness") == Status.SERVING
    assert exec_check(served, "liveness") == 0


def test_readiness_off_breaks_every_kind_of_readiness_check(served: Served) -> None:
    ready = served.ports["TCP_READINESS_PORT"]
    assert eventually(lambda: tcp_open(ready), 10, "TCP readiness port open")
    served.call("/readyz/disable", method="POST")
    assert served.call("/readyz")[0] == 503
    assert not tcp_open(ready)
    assert grpc_status(served, "readiness") == Status.NOT_SERVING
    assert exec_check(served, "readiness") == 1
    assert exec_check(served, "liveness") == 0  # never a restart for readiness
    served.call("/readyz/enable", method="POST")
    assert tcp_open(ready)
    assert exec_check(served, "readiness") == 0


def test_readiness_fail_next_fails_exactly_n_checks(served: Served) -> None:
    served.call("/readyz/fail-next?count=2", method="POST")
    assert [served.call("/readyz")[0] for _ in range(4)] == [503, 503, 200, 200]


def test_unknown_grpc_service_is_reported_unknown(served: Served) -> None:
    assert grpc_status(served, "database") == Status.SERVICE_UNKNOWN


@pytest.fixture
def slow_starter() -> Iterator[Served]:
    app = serve({"WEBAPP_STARTUP_DELAY_SECONDS": "3"})
    yield app
    app.proc.kill()
    app.proc.wait(timeout=10)


def test_a_slow_starter_reports_not_started_on_every_kind(slow_starter: Served) -> None:
    served = slow_starter
    status, body = served.call("/startupz")
    assert (status, body["status"], body["reason"]) == (503, "starting", "starting")
    assert served.call("/healthz")[0] == 500
    assert served.call("/readyz")[0] == 503
    assert not tcp_open(served.ports["TCP_LIVENESS_PORT"])
    assert not tcp_open(served.ports["TCP_READINESS_PORT"])
    assert grpc_status(served, "startup") == Status.NOT_SERVING
    assert exec_check(served, "startup") == 1
    # Once the delay is over, every check passes without anyone touching the app.
    assert eventually(lambda: served.call("/startupz")[0] == 200, 10, "started")
    assert eventually(lambda: tcp_open(served.ports["TCP_LIVENESS_PORT"]), 5, "TCP port open")
    assert grpc_status(served, "startup") == Status.SERVING
    assert exec_check(served, "startup") == 0
    assert served.call("/healthz")[0] == 200


def test_the_exec_check_counts_as_the_kubelets_answer(served: Served) -> None:
    served.call("/start-failing", method="POST")
    exec_check(served, "liveness")
    exec_check(served, "liveness")
    _, body = served.call("/")
    assert body["pod"]["livenessFailures"] == 2  # journaled like kube-probe/* answers
