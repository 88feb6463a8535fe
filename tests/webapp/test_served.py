"""The webapp as the kubelet meets it: a real `python -m webapp` process over real HTTP."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .conftest import Served, serve


def test_liveness_flips_on_start_failing(served: Served) -> None:
    assert served.call("/healthz") == (200, {"status": "ok"})
    status, body = served.call("/start-failing")  # GET, as a browser does
    assert status == 200
    failing = served.call("/healthz")
    assert failing[0] == 500
    assert failing[1]["since"] == body["since"]
    assert served.call("/stop-failing", method="POST")[0] == 200
    assert served.call("/healthz")[0] == 200


def test_fail_next_fails_exactly_n_checks(served: Served) -> None:
    served.call("/fail-next?count=3", method="POST")
    codes = [served.call("/healthz")[0] for _ in range(6)]
    assert codes == [500, 500, 500, 200, 200, 200]


def test_hang_delays_liveness_past_a_probe_timeout(served: Served) -> None:
    served.call("/hang?seconds=1.5", method="POST")
    start = time.monotonic()
    assert served.call("/healthz")[0] == 200
    elapsed = time.monotonic() - start
    assert 1.5 <= elapsed < 3
    # A kubelet probe with timeoutSeconds=1 gives up: that is a failure.
    try:
        served.call("/healthz", timeout=1)
        timed_out = False
    except TimeoutError:
        timed_out = True
    assert timed_out


def test_crash_exits_non_zero(served: Served) -> None:
    assert served.call("/crash", method="POST") == (202, {"crashing": True, "exitCode": 1})
    assert served.proc.wait(timeout=5) == 1


def test_crash_exit_code_is_configurable() -> None:
    app = serve({"WEBAPP_CRASH_EXIT_CODE": "42"})
    try:
        app.call("/crash", method="POST")
        assert app.proc.wait(timeout=5) == 42
    finally:
        app.proc.kill()
        app.proc.wait()


def test_a_crash_on_schedule_ends_the_container_and_says_so(tmp_path: Path) -> None:
    """The crash-loop lesson: each container crashes on its own, and its journal says "crash"
    (the operator attributes it), like POST /crash."""
    termination = tmp_path / "termination-log"
    termination.touch()
    app = serve({"WEBAPP_CRASH_AFTER_SECONDS": "1", "WEBAPP_JOURNAL_DIR": str(tmp_path),
                 "WEBAPP_TERMINATION_LOG": str(termination)})  # fmt: skip
    try:
        assert app.call("/healthz")[0] == 200  # it serves until then
        assert app.proc.wait(timeout=10) == 1
    finally:
        app.proc.kill()
        app.proc.wait()
    told = json.loads(termination.read_text().removeprefix("healthdemo-journal/v1 "))
    assert [(e["cause"], e["code"]) for e in told["exits"]] == [("crash", 1)]


def test_sigterm_exits_zero_within_two_seconds_even_mid_hang(served: Served) -> None:
    served.call("/hang?seconds=30", method="POST")
    stuck = threading.Thread(target=lambda: _ignore_errors(served, "/healthz"), daemon=True)
    stuck.start()
    time.sleep(0.3)  # the /healthz request is now in flight, blocked in the hang
    start = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    code = served.proc.wait(timeout=10)
    elapsed = time.monotonic() - start
    assert code == 0
    assert elapsed < 2, f"SIGTERM took {elapsed:.2f} s"


def test_sigterm_when_idle_exits_zero_fast(served: Served) -> None:
    start = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=10) == 0
    assert time.monotonic() - start < 2


def test_bad_setting_stops_start_up_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "webapp"],
        env={"WEBAPP_FAULTS": "maybe", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert b"WEBAPP_FAULTS='maybe'" in result.stderr


def _ignore_errors(served: Served, path: str) -> None:
    with contextlib.suppress(OSError):
        served.call(path, timeout=30)
