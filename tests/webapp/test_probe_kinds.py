"""One switch breaks every kind of probe alike: HTTP, TCP, exec and gRPC, against a real process."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from ..conftest import eventually
from .checks import Status, exec_check, grpc_status, tcp_open
from .conftest import Served, serve


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


def test_a_grpc_liveness_failure_is_dated_when_the_kubelet_began_its_probe(
    served_with: Callable[[dict[str, str]], Served], tmp_path: Path
) -> None:
    """The kubelet sets its call's deadline (start + timeoutSeconds) before it connects: a call
    arriving with 1 s of a 4 s timeout left was begun 3 s earlier, and the probe math counts
    from then, not from when a slow connect or a busy server let it in."""
    served = served_with(
        {"WEBAPP_JOURNAL_DIR": str(tmp_path), "WEBAPP_LIVENESS_TIMEOUT_SECONDS": "4"}
    )
    served.call("/start-failing", method="POST")
    sent = time.time()
    assert grpc_status(served, "liveness", "kube-probe/1.37", deadline=1) == Status.NOT_SERVING
    served.proc.send_signal(signal.SIGTERM)
    served.proc.wait(timeout=10)
    (ended,) = json.loads((tmp_path / "journal.json").read_text())["exits"]
    since = datetime.fromisoformat(ended["since"].replace("Z", "+00:00")).timestamp()
    assert sent - 3 - 0.5 <= since <= sent - 3 + 0.5, (since - sent, ended)


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


def test_every_kind_of_call_is_recorded_with_what_the_app_can_see(served: Served) -> None:
    live = served.ports["TCP_LIVENESS_PORT"]
    assert eventually(lambda: tcp_open(live), 10, "TCP liveness port open")
    assert grpc_status(served, "readiness", user_agent="kube-probe/1.34") == Status.SERVING
    assert grpc_status(served, "database") == Status.SERVICE_UNKNOWN
    served.call("/start-failing", method="POST")
    assert exec_check(served, "liveness") == 1
    _, recent = served.call("/probes/recent")
    calls = recent["calls"]
    assert [c["seq"] for c in calls] == list(range(recent["recorded"], 0, -1))  # newest first
    by_kind = {(c["kind"], c["probe"]): c for c in reversed(calls)}  # the newest of each
    tcp = by_kind["tcp", "liveness"]
    assert (tcp["answer"], tcp["kubelet"], tcp["userAgent"]) == ("accepted", None, "")
    assert tcp["peer"].startswith("127.0.0.1:")
    grpc_call = by_kind["grpc", "readiness"]
    assert (grpc_call["answer"], grpc_call["ok"], grpc_call["kubelet"]) == ("SERVING", True, True)
    assert grpc_call["userAgent"].startswith("kube-probe/1.34 ")  # grpc appends its own name
    unknown = by_kind["grpc", "database"]  # a misnamed service: the kubelet counts a failure
    assert (unknown["answer"], unknown["ok"]) == ("SERVICE_UNKNOWN", False)
    exec_call = by_kind["exec", "liveness"]  # the kubelet runs it: it counts as the kubelet's
    assert (exec_call["answer"], exec_call["kubelet"]) == ("500 start-failing", True)
    assert exec_call["userAgent"].startswith("healthdemo-exec-check/")
