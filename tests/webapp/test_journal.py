"""The Pod's journal: how each container ended, in the termination message, across restarts.

First the Journal itself, then the real `python -m webapp` process playing a container that the
kubelet kills, that crashes, and that is SIGKILLed, three times in one "Pod" (one directory).
"""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path
from typing import Any

from webapp.journal import MAX_MESSAGE_BYTES, PREFIX, Journal

from .conftest import Served, serve


def parsed(log: Path) -> dict[str, Any]:
    text = log.read_text()
    assert text.startswith(PREFIX)
    result: dict[str, Any] = json.loads(text.removeprefix(PREFIX))
    return result


def pod_dir(tmp_path: Path) -> tuple[Path, Path]:
    journal_dir = tmp_path / "emptydir"
    journal_dir.mkdir()
    log = tmp_path / "termination-log"
    log.touch()  # the kubelet creates it; the app only writes into an existing one
    return journal_dir, log


def test_a_kill_after_failed_answers_is_told_with_its_streak(tmp_path: Path) -> None:
    directory, log = pod_dir(tmp_path)
    journal = Journal(directory, log)
    assert journal.begin_container() == 0
    journal.liveness_answer(failed=True, at=100.0)  # forgiven: a pass follows
    journal.liveness_answer(failed=False, at=101.0)
    for at in (102.0, 103.0, 104.0):
        journal.liveness_answer(failed=True, at=at)
    journal.ended("sigterm")
    journal.ended("crash", 1)  # only the first end counts
    message = parsed(log)
    assert message["containers"] == 1
    assert message["livenessFailures"] == 4
    (exit_,) = message["exits"]
    assert exit_ | {"at": None} == {
        "c": 0,
        "cause": "sigterm",
        "at": None,
        "streak": 3,
        "since": "1970-01-01T00:01:42.000Z",
    }


def test_a_kill_without_failed_answers_is_timed_from_the_break(tmp_path: Path) -> None:
    """A tcpSocket probe fails by refused connections, which the app never sees: the moment
    /start-failing closed the port stands in for the first failure."""
    directory, log = pod_dir(tmp_path)
    journal = Journal(directory, log)
    journal.begin_container()
    journal.ended("sigterm", broken_since=200.0)
    (exit_,) = parsed(log)["exits"]
    assert exit_["since"] == "1970-01-01T00:03:20.000Z"
    assert "streak" not in exit_


def test_failed_answers_win_over_the_break_and_a_crash_has_no_since(tmp_path: Path) -> None:
    directory, log = pod_dir(tmp_path)
    journal = Journal(directory, log)
    journal.begin_container()
    journal.liveness_answer(failed=True, at=300.0)
    journal.ended("sigterm", broken_since=200.0)
    assert parsed(log)["exits"][0]["since"] == "1970-01-01T00:05:00.000Z"
    second = Journal(directory, log)
    second.begin_container()
    second.ended("crash", 1, broken_since=200.0)
    assert "since" not in parsed(log)["exits"][1]


def test_the_next_container_continues_the_pod_and_notes_a_silent_end(tmp_path: Path) -> None:
    directory, log = pod_dir(tmp_path)
    first = Journal(directory, log)
    first.begin_container()
    first.liveness_answer(failed=True, at=1.0)
    # Killed without warning (OOM): no end written. The next container says so.
    second = Journal(directory, log)
    assert second.begin_container() == 1
    assert second.container == 1
    assert second.snapshot() == {
        "container": 1,
        "livenessFailures": 1,
        "exits": 1,
        "persistent": True,
    }
    assert parsed(log)["exits"] == [{"c": 0, "cause": "gone", "at": None}]


def test_the_message_fits_the_kubelets_limit_keeping_the_newest(tmp_path: Path) -> None:
    directory, log = pod_dir(tmp_path)
    for _ in range(200):
        journal = Journal(directory, log)
        journal.begin_container()
        journal.ended("crash", 1)
    text = log.read_text()
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    exits = parsed(log)["exits"]
    assert exits[-1]["c"] == 199
    assert [e["c"] for e in exits] == list(range(200 - len(exits), 200))
    assert len(exits) > 30


def test_without_a_directory_it_tells_this_container_only(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    log.touch()
    journal = Journal(None, log)
    journal.begin_container()
    journal.ended("crash", 3)
    assert parsed(log)["exits"][0] | {"at": None} == {
        "c": 0,
        "cause": "crash",
        "at": None,
        "code": 3,
    }
    assert Journal(None, tmp_path / "absent").snapshot()["persistent"] is False


def kube_probe(app: Served, path: str = "/healthz") -> int:
    request = urllib.request.Request(app.url + path, headers={"User-Agent": "kube-probe/1.34"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def test_three_containers_of_one_pod_each_tell_how_they_ended(tmp_path: Path) -> None:
    directory, log = pod_dir(tmp_path)
    env = {"WEBAPP_JOURNAL_DIR": str(directory), "WEBAPP_TERMINATION_LOG": str(log)}

    # Container 0: fails its liveness checks, then the kubelet's SIGTERM.
    app = serve(env)
    assert app.call("/start-failing", method="POST")[0] == 200
    assert [kube_probe(app) for _ in range(3)] == [500, 500, 500]
    app.call("/healthz")  # not the kubelet: not part of the streak
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(timeout=10) == 0

    # Container 1: crashes on purpose.
    app = serve(env)
    assert app.call("/")[1]["pod"] == {
        "container": 1,
        "livenessFailures": 3,
        "exits": 1,
        "persistent": True,
    }
    app.call("/crash", method="POST")
    assert app.proc.wait(timeout=10) == 1

    # Container 2: a hang past the timeout is a failure for the kubelet; then SIGKILL (as OOM).
    app = serve({**env, "WEBAPP_LIVENESS_TIMEOUT_SECONDS": "1"})
    app.call("/hang?seconds=1", method="POST")
    assert kube_probe(app) == 200  # late: the kubelet would have given up
    app.proc.kill()
    app.proc.wait(timeout=10)

    app = serve(env)  # container 3 notes that 2 ended without a word
    try:
        message = parsed(log)
        assert message["containers"] == 4
        assert message["livenessFailures"] == 4
        assert [(e["c"], e["cause"], e.get("streak"), e.get("code")) for e in message["exits"]] == [
            (0, "sigterm", 3, None),
            (1, "crash", None, 1),
            (2, "gone", None, None),
        ]
        text = urllib.request.urlopen(app.url + "/metrics", timeout=5).read().decode()
        assert (
            'webapp_probe_requests_total{probe="liveness",result="failure",source="kubelet"}'
            not in text
        )
    finally:
        app.proc.kill()
        app.proc.wait(timeout=10)


def test_a_late_answer_is_a_failure_in_the_metrics(tmp_path: Path) -> None:
    app = serve({"WEBAPP_LIVENESS_TIMEOUT_SECONDS": "1"})
    try:
        app.call("/hang?seconds=1", method="POST")
        assert kube_probe(app) == 200
        text = urllib.request.urlopen(app.url + "/metrics", timeout=5).read().decode()
        line = 'webapp_probe_requests_total{probe="liveness",result="failure",source="kubelet"} 1.0'
        assert line in text
    finally:
        app.proc.kill()
        app.proc.wait(timeout=10)
