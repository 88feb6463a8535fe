"""The traffic client as it runs: `python -m webapp.traffic` against the real webapp over real
HTTP, and against real sockets that reset or never answer. The webapp's own count of the
requests it answered (`webapp_work_requests`) is the truth the client's tally must agree with."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from healthdemo_sandbox.ports import free_ports

from webapp.traffic import config
from webapp.traffic.send import Target, send
from webapp.traffic.tally import Tally

from ..conftest import Scraped, eventually
from .conftest import Served

RATE = 20  # the cap: enough requests in a second or two


class Client:
    """A running `python -m webapp.traffic` process."""

    def __init__(
        self, target: str, store: Path, rate: float = RATE, extra: dict[str, str] | None = None
    ) -> None:
        (self.port,) = free_ports(1)
        env = {**os.environ, "TRAFFIC_TARGET": target, "TRAFFIC_RATE": str(rate),
               "TRAFFIC_STATE": str(store), "HOST": "127.0.0.1",
               "PORT": str(self.port), **(extra or {})}  # fmt: skip
        self.proc = subprocess.Popen([sys.executable, "-m", "webapp.traffic"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        eventually(self._answers, timeout=15, what="the traffic client's /counts")

    def _answers(self) -> bool:
        try:
            self.counts()
        except OSError:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()  # type: ignore[union-attr]
            return False
        return True

    def counts(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/counts"
        with urllib.request.urlopen(url, timeout=5) as response:
            body: dict[str, Any] = json.loads(response.read())
        return body

    def sent_at_least(self, n: int, kind: str) -> dict[str, Any]:
        return eventually(
            lambda: (c := self.counts())["answers"][kind] >= n and c, what=f"{n} answers {kind}"
        )

    def stop(self) -> None:
        """SIGTERM, as the kubelet stops it: it saves its tally and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    started: list[Client] = []
    yield started
    for client in started:
        if client.proc.poll() is None:
            client.proc.kill()
            client.proc.wait(timeout=10)


def work_answered(app: Served, code: str) -> int:
    with urllib.request.urlopen(app.url + "/metrics", timeout=5) as response:
        found = Scraped.parse(response.read().decode())
    return int(found("webapp_work_requests_total", source="traffic", code=code) or 0)


def test_every_request_is_counted_by_kind_and_the_webapp_agrees(
    served: Served, tmp_path: Path, clients: list[Client]
) -> None:
    store = tmp_path / "counts.json"
    client = Client(served.url + "/work", store)
    clients.append(client)
    client.sent_at_least(10, "ok")
    assert served.call("/start-failing", method="POST")[0] == 200
    client.sent_at_least(5, "5xx")
    assert served.call("/stop-failing", method="POST")[0] == 200
    before = client.sent_at_least(1, "ok")["answers"]["ok"]
    client.sent_at_least(before + 5, "ok")
    client.stop()

    saved = json.loads(store.read_text())  # what it saved when stopped
    answers = saved["answers"]
    assert sum(answers.values()) == saved["sent"] > 0
    assert (answers["refused"], answers["reset"], answers["timeout"], answers["other"]) == (
        0, 0, 0, 0,
    )  # fmt: skip
    # The webapp's own count of what it answered the client: the same, request for request.
    assert (work_answered(served, "200"), work_answered(served, "500")) == (
        answers["ok"],
        answers["5xx"],
    )
    assert saved["byPod"] == {socket.gethostname(): answers["ok"] + answers["5xx"]}
    (window,) = saved["windows"]  # the 5xx while it failed, closed by the answers after
    assert set(window["counts"]) == {"5xx"} and window["closedAt"] > window["end"]
    assert window["counts"]["5xx"] == answers["5xx"]

    # Its own restart loses nothing: it goes on from the saved tally.
    again = Client(served.url + "/work", store)
    clients.append(again)
    assert again.counts()["starts"] == 2
    assert again.counts()["sent"] >= saved["sent"]
    served.call("/crash", method="POST")
    refused = again.sent_at_least(5, "refused")
    assert refused["answers"]["ok"] >= answers["ok"]
    # Refused from the moment the port closed; a connection the dying process had already
    # accepted (or left in its backlog) is reset.
    crash = refused["windows"][-1]["counts"]
    assert crash.keys() <= {"refused", "reset"} and crash["refused"] >= 5
    assert refused["windows"][-1]["closedAt"] is None  # nothing has answered since


def listener(answer: str) -> tuple[socket.socket, int]:
    """A real TCP port that accepts and then resets each connection, or never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if answer == "reset":
                conn.recv(1024)
                # SO_LINGER 0: close with a RST, as a process killed mid-answer does.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                held.append(conn)  # accepted, never answered

    threading.Thread(target=serve, daemon=True).start()
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("answer", ["reset", "timeout"])
def test_a_reset_and_a_silence_are_told_apart(answer: str) -> None:
    sock, port = listener(answer)
    try:
        assert send(Target("127.0.0.1", port, "/work"), timeout=0.5) == (answer, None)
    finally:
        sock.close()


def test_a_closed_port_is_refused() -> None:
    (port,) = free_ports(1)
    assert send(Target("127.0.0.1", port, "/work"), timeout=0.5) == ("refused", None)


def test_windows_are_runs_of_failures_between_successes() -> None:
    tally = Tally(started=0.0)
    for at, kind in [(1, "ok"), (2, "refused"), (3, "refused"), (4, "ok"), (5, "timeout"),
                     (6, "5xx"), (7, "ok")]:  # fmt: skip
        tally.record(kind, "pod-a" if kind in ("ok", "5xx") else None, float(at))  # type: ignore[arg-type]
    first, second = tally.windows
    assert (first.start, first.end, first.counts, first.closed_at) == (2, 3, {"refused": 2}, 4)
    assert (second.start, second.end, second.counts) == (5, 6, {"timeout": 1, "5xx": 1})
    assert tally.failed == 4 and tally.by_pod == {"pod-a": 4}
    # A failure sent before the success that closed its window, answered after it, stays in it.
    tally.record("reset", None, 6.5)
    assert len(tally.windows) == 2 and tally.windows[-1].counts["reset"] == 1
    tally.record("reset", None, 8.0)  # after the success: a new window
    assert len(tally.windows) == 3 and tally.windows[-1].closed_at is None
    assert Tally.of(tally.to_json()) == tally


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "TRAFFIC_TARGET is required"),
        ({"TRAFFIC_TARGET": "https://x"}, "must be an http:// URL"),
        ({"TRAFFIC_TARGET": "http://x", "TRAFFIC_RATE": "50"}, "TRAFFIC_RATE must be more than 0"),
        ({"TRAFFIC_TARGET": "http://x", "TRAFFIC_RATE": "0"}, "at most 20"),
        ({"TRAFFIC_TARGET": "http://x", "TRAFFIC_RATE": "fast"}, "TRAFFIC_RATE must be a number"),
    ],
)
def test_bad_settings_stop_it_at_start_with_the_variables_name(
    env: dict[str, str], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        config.from_environ(env)
    settings = config.from_environ({"TRAFFIC_TARGET": "http://demo:80"})
    assert (settings.target, settings.rate) == (Target("demo", 80, "/work"), 2.0)


def test_a_fixed_sample_stops_and_the_webapp_counts_every_one(
    served: Served, tmp_path: Path, clients: list[Client]
) -> None:
    client = Client(
        served.url + "/work", tmp_path / "counts.json", extra={"TRAFFIC_REQUESTS": "15"}
    )
    clients.append(client)
    done = eventually(lambda: (c := client.counts())["sent"] == 15 and c, what="15 sent")
    assert done["answers"]["ok"] == 15 and done["limit"] == 15
    assert work_answered(served, "200") == 15  # every one reached the webapp, once
    assert client.counts()["sent"] == 15  # and no more are sent
    client.stop()


def test_stopped_it_serves_its_final_count_until_read(
    served: Served, tmp_path: Path, clients: list[Client]
) -> None:
    """SIGTERM (its Pod deleted): it stops sending, and serves its final count until a reader
    has had it, so the requests it sent since the operator's last reading are counted too."""
    client = Client(served.url + "/work", tmp_path / "counts.json",
                    extra={"TRAFFIC_LINGER_SECONDS": "15"})  # fmt: skip
    clients.append(client)
    client.sent_at_least(5, "ok")
    assert client.counts()["final"] is False
    client.proc.send_signal(signal.SIGTERM)
    final = eventually(lambda: (c := client.counts())["final"] and c, what="its final count")
    # Nothing more is sent, every request is counted, and the webapp agrees; then it goes.
    assert final["sent"] == final["answers"]["ok"] == work_answered(served, "200")
    assert client.proc.wait(timeout=5) == 0
    assert json.loads((tmp_path / "counts.json").read_text())["final"] is True


def test_unread_it_lingers_no_longer_than_it_was_told(
    tmp_path: Path, clients: list[Client]
) -> None:
    client = Client("http://127.0.0.1:9/work", tmp_path / "counts.json",
                    extra={"TRAFFIC_LINGER_SECONDS": "1"})  # fmt: skip
    clients.append(client)
    client.proc.send_signal(signal.SIGTERM)
    assert client.proc.wait(timeout=10) == 0
    assert b"the final count was not read within 1 s" in client.proc.stdout.read()  # type: ignore[union-attr]
