"""The recent probe calls: a bounded, thread-safe ring, and what each HTTP check leaves in it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask.testing import FlaskClient

from webapp import config
from webapp.app import create_app
from webapp.recent import ProbeCall, RecentCalls


@pytest.fixture
def client() -> FlaskClient:
    return create_app().test_client()


def call(n: int = 0) -> ProbeCall:
    return ProbeCall("liveness", "http", True, "200", True, f"kube-probe/1.{n}", "10.0.0.1")


def recent(client: FlaskClient) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = client.get("/probes/recent").get_json()["calls"]
    return calls


def test_the_ring_keeps_the_newest_calls_newest_first() -> None:
    ring = RecentCalls(3)
    for n in range(5):
        ring.add(call(n))
    snapshot: dict[str, Any] = ring.snapshot()
    assert (snapshot["capacity"], snapshot["recorded"]) == (3, 5)
    assert [c["seq"] for c in snapshot["calls"]] == [5, 4, 3]
    agents = [c["userAgent"] for c in snapshot["calls"]]
    assert agents == ["kube-probe/1.4", "kube-probe/1.3", "kube-probe/1.2"]


def test_a_long_user_agent_is_cut() -> None:
    ring = RecentCalls(1)
    ring.add(ProbeCall("startup", "http", True, "200", False, "x" * 8000, "10.0.0.1"))
    snapshot: dict[str, Any] = ring.snapshot()
    assert snapshot["calls"][0]["userAgent"] == "x" * 200 + "…"


def test_the_ring_loses_no_count_under_concurrent_writers() -> None:
    ring = RecentCalls(50)

    def write() -> None:
        for _ in range(2000):
            ring.add(call())

    threads = [threading.Thread(target=write) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot: dict[str, Any] = ring.snapshot()
    assert snapshot["recorded"] == 32000
    assert [c["seq"] for c in snapshot["calls"]] == list(range(32000, 31950, -1))


def test_each_check_is_recorded_with_its_answer_and_who_asked() -> None:
    client = create_app({"LIVENESS_TIMEOUT_SECONDS": 0.05}).test_client()
    client.get("/healthz", headers={"User-Agent": "kube-probe/1.34"})
    client.get("/readyz", headers={"User-Agent": "healthdemo-exec-check/0.1.0"})
    client.post("/start-failing")
    client.get("/healthz", headers={"User-Agent": "Mozilla/5.0"})
    client.post("/stop-failing")
    client.post("/hang?seconds=0.1")
    client.get("/healthz", headers={"User-Agent": "kube-probe/1.34"})
    client.get("/startupz", headers={"User-Agent": "kube-probe/1.34"})
    seen = [
        (c["probe"], c["kind"], c["answer"], c["ok"], c["kubelet"], c["userAgent"])
        for c in reversed(recent(client))
    ]
    assert seen == [
        ("liveness", "http", "200", True, True, "kube-probe/1.34"),
        ("readiness", "exec", "200", True, True, "healthdemo-exec-check/0.1.0"),
        ("liveness", "http", "500 start-failing", False, False, "Mozilla/5.0"),
        ("liveness", "http", "200 too late", False, True, "kube-probe/1.34"),
        ("startup", "http", "200", True, True, "kube-probe/1.34"),
    ]
    late = recent(client)[1]
    assert late["tookMs"] >= 100
    assert late["peer"] == "127.0.0.1"
    assert late["at"].endswith("Z")


def test_only_the_checks_are_recorded(client: FlaskClient) -> None:
    for path in ("/", "/metrics", "/probes/recent", "/nope"):
        client.get(path)
    client.delete("/healthz")  # a 405 is no check
    assert recent(client) == []


def test_the_ring_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBAPP_RECENT_PROBES", "2")
    client = create_app().test_client()
    for _ in range(3):
        client.get("/healthz")
    body = client.get("/probes/recent").get_json()
    assert (body["capacity"], body["recorded"], len(body["calls"])) == (2, 3, 2)
    with pytest.raises(ValueError, match="WEBAPP_RECENT_PROBES must be 0"):
        config.from_environ({"WEBAPP_RECENT_PROBES": "-1"})
