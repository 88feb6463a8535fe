"""The served webapp under abuse: malformed requests and huge headers get 4xx, never a crash,
and 200 clients hammering / do not make /healthz miss a 1 s probe timeout."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from ..conftest import http_json
from .conftest import Served

PROBE_TIMEOUT_S = 1.0  # the kubelet's default timeoutSeconds


def raw(served: Served, payload: bytes) -> bytes:
    """Send bytes on a fresh TCP connection; return what comes back (until close or 5 s)."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"THIS IS NOT HTTP\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", b"400"),
        (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"414"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n", b"431"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: y\r\n" % n for n in range(200))
            + b"\r\n",
            b"431",
        ),
        (b"POST /fail-next HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", b"400"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"400",
        ),
    ],
    ids=[
        "garbage",
        "bad-version",
        "huge-url",
        "huge-header",
        "too-many-headers",
        "bad-length",
        "smuggling",
    ],
)
def test_malformed_requests_get_4xx_and_the_app_lives_on(
    served: Served, payload: bytes, status: bytes
) -> None:
    answer = raw(served, payload)
    assert answer.split(b" ")[1] == status, answer[:200]
    assert served.proc.poll() is None
    assert served.call("/healthz") == (200, {"status": "ok"})


def test_healthz_answers_in_time_while_200_clients_hammer_the_index(served: Served) -> None:
    stop = threading.Event()
    served_requests = [0]

    def hammer() -> None:
        while not stop.is_set():
            try:
                http_json(served.url + "/", timeout=10)
                served_requests[0] += 1
            except OSError:
                pass

    clients = [threading.Thread(target=hammer, daemon=True) for _ in range(200)]
    for thread in clients:
        thread.start()
    latencies = []
    try:
        time.sleep(1)  # let the load build up
        for _ in range(30):
            start = time.perf_counter()
            status, _ = http_json(served.url + "/healthz", timeout=5)
            latencies.append(time.perf_counter() - start)
            assert status == 200
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=15)
    assert served_requests[0] > 500, "the load did not happen"
    assert max(latencies) < PROBE_TIMEOUT_S, f"slowest /healthz {max(latencies):.3f} s"
