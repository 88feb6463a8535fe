"""The operator's metrics from given statuses: what a scrape shows, in prometheus_client's own
formats, and served over real HTTP. The counters are the statuses' exact totals, so any process
that reads the same statuses shows the same numbers."""

from __future__ import annotations

import asyncio
import gzip
import json
import urllib.request
from typing import Any

import pytest
from healthdemo_operator import metrics
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.metrics import OperatorMetrics
from healthdemo_operator.status.causes import REASONS
from prometheus_client import generate_latest

from ..conftest import Scraped, free_port
from .test_recording import failures, killing, restarted_pod, run


def body(name: str, status: dict[str, Any], namespace: str = "shop") -> dict[str, Any]:
    """A HealthDemo as the `healthdemos` index keeps it."""
    meta = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}
    return {"metadata": meta, "spec": {}, "status": status}


def index(*bodies: dict[str, Any]) -> list[HealthDemo]:
    """The controller's HealthDemos, as Kopf's watch delivered these bodies."""
    return [HealthDemo.of(b) for b in bodies]


def scrape(
    healthdemos: list[HealthDemo],
    operator: OperatorMetrics | None = None,
    *,
    queue_depth: int = 0,
    reconcile_errors: int = 0,
) -> Scraped:
    taken = (operator or OperatorMetrics()).scrape(
        healthdemos, queue_depth=queue_depth, reconcile_errors=reconcile_errors
    )
    return Scraped.parse(generate_latest(taken).decode())


def restarted_status() -> dict[str, Any]:
    """One liveness restart after 3 failures, ready again 23 s after the first one."""
    status = run(pods=[restarted_pod()], events=[failures(3), killing()]).status
    assert status["recovery"]["count"] == 1
    return status


CRASHY = {
    "restarts": 3,
    "restartReasons": {"Crash": 2, "OOMKilled": 1},
    "probeFailures": 0,
    "readinessFailures": 4,
    "startupFailures": 5,
}


def test_the_counters_are_the_statuses_totals() -> None:
    scraped = scrape(index(body("demo", restarted_status()), body("crashy", CRASHY)))
    demo = {"namespace": "shop", "healthdemo": "demo"}
    assert {
        reason: scraped("healthdemo_restarts_total", **demo, reason=reason) for reason in REASONS
    } == {reason: (1 if reason == "LivenessProbe" else 0) for reason in REASONS}
    assert {
        probe: scraped("healthdemo_probe_failures_total", **demo, probe=probe)
        for probe in ("liveness", "readiness", "startup")
    } == {"liveness": 3, "readiness": 0, "startup": 0}
    crashy = {"namespace": "shop", "healthdemo": "crashy"}
    assert scraped("healthdemo_restarts_total", **crashy, reason="Crash") == 2
    assert scraped("healthdemo_restarts_total", **crashy, reason="OOMKilled") == 1
    assert scraped("healthdemo_restarts_total", **crashy, reason="LivenessProbe") == 0
    assert scraped("healthdemo_probe_failures_total", **crashy, probe="readiness") == 4
    assert scraped("healthdemo_probe_failures_total", **crashy, probe="startup") == 5
    # Bounded: one series per HealthDemo and reason, and per HealthDemo and probe.
    assert len(scraped.series("healthdemo_restarts_total")) == 2 * len(REASONS)
    assert len(scraped.series("healthdemo_probe_failures_total")) == 2 * 3


def test_the_recovery_histogram_is_the_one_in_the_status() -> None:
    scraped = scrape(index(body("demo", restarted_status()), body("crashy", CRASHY)))
    demo = {"namespace": "shop", "healthdemo": "demo"}
    buckets = {
        labels["le"]: scraped("healthdemo_recovery_seconds_bucket", **labels)
        for labels in scraped.series("healthdemo_recovery_seconds_bucket")
        if labels["healthdemo"] == "demo"
    }
    assert buckets == {
        "1.0": 0, "2.5": 0, "5.0": 0, "10.0": 0, "20.0": 0,  # 23 s: not within these
        "30.0": 1, "60.0": 1, "120.0": 1, "300.0": 1, "600.0": 1, "+Inf": 1,
    }  # fmt: skip
    assert scraped("healthdemo_recovery_seconds_count", **demo) == 1
    assert scraped("healthdemo_recovery_seconds_sum", **demo) == 23.0
    # No recovery yet: zeros, so that the first one is an increase.
    crashy = {"namespace": "shop", "healthdemo": "crashy"}
    assert scraped("healthdemo_recovery_seconds_bucket", **crashy, le="+Inf") == 0
    assert scraped("healthdemo_recovery_seconds_count", **crashy) == 0


def test_a_restarted_operator_shows_the_same_counters() -> None:
    """A new process (new metrics, the statuses read back from the API server as JSON): every
    series per HealthDemo is the same, none reset, none doubled."""
    bodies = [body("demo", restarted_status()), body("crashy", CRASHY)]
    before = scrape(index(*bodies), reconcile_errors=3)
    again = scrape(index(*json.loads(json.dumps(bodies))))
    per_healthdemo = {
        key: value for key, value in before.samples.items() if ("healthdemo", "demo") in key[1]
        or ("healthdemo", "crashy") in key[1]
    }  # fmt: skip
    assert len(per_healthdemo) == 2 * (len(REASONS) + 3 + 13)  # reasons, probes, histogram
    assert per_healthdemo
    assert {key: again.samples[key] for key in per_healthdemo} == per_healthdemo
    # What is about the process starts again, and says so.
    assert again("healthdemo_operator_reconcile_errors_total") == 0
    assert "starts from zero" in again.help["healthdemo_operator_reconcile_errors"]
    assert "survives operator restarts" in again.help["healthdemo_restarts"]


def test_a_deleted_healthdemo_leaves_no_series() -> None:
    both = scrape(index(body("demo", restarted_status()), body("crashy", CRASHY)))
    one = scrape(index(body("crashy", CRASHY)))
    assert any(s["healthdemo"] == "demo" for s in both.series("healthdemo_restarts_total"))
    for name in ("healthdemo_restarts_total", "healthdemo_recovery_seconds_bucket"):
        assert {s["healthdemo"] for s in one.series(name)} == {"crashy"}


def test_the_process_metrics() -> None:
    operator = OperatorMetrics()
    operator.reconcile_seconds.observe(0.003)
    operator.reconcile_seconds.observe(0.2)
    scraped = scrape([], operator, queue_depth=7, reconcile_errors=2)
    assert scraped("healthdemo_operator_reconcile_duration_seconds_count") == 2
    assert scraped("healthdemo_operator_reconcile_duration_seconds_bucket", le="0.005") == 1
    assert scraped("healthdemo_operator_reconcile_errors_total") == 2
    assert scraped("healthdemo_operator_workqueue_depth") == 7
    assert scraped("process_resident_memory_bytes")  # Linux: the standard process_* too


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def test_served_over_http_in_the_format_the_scraper_asks_for() -> None:
    statuses = index(body("demo", restarted_status()))
    operator = OperatorMetrics()
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"

    def empty() -> metrics.Scrape:
        return operator.scrape([], queue_depth=0, reconcile_errors=0)

    async def scenario() -> None:
        runner = await metrics.serve(
            port, lambda: operator.scrape(statuses, queue_depth=1, reconcile_errors=0)
        )
        try:
            code, headers, text = await asyncio.to_thread(fetch, url)
            assert code == 200
            assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
            scraped = Scraped.parse(text.decode())
            labels = {"namespace": "shop", "healthdemo": "demo", "reason": "LivenessProbe"}
            assert scraped("healthdemo_restarts_total", **labels) == 1
            # What Prometheus sends: OpenMetrics preferred (the text format is still taken),
            # gzip.
            accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.4"
            _, headers, packed = await asyncio.to_thread(
                fetch, url, Accept=accept, **{"Accept-Encoding": "gzip"}
            )
            assert headers["Content-Encoding"] == "gzip"
            unpacked = Scraped.parse(gzip.decompress(packed).decode())
            assert unpacked("healthdemo_restarts_total", **labels) == 1
            # A port that is taken is an error at once, not a silent operator without metrics.
            with pytest.raises(OSError):
                await metrics.serve(port, empty)
        finally:
            await runner.cleanup()
        # Stopped, the port is free at once for the next operator (its scrapes' connections
        # may still linger in TIME_WAIT).
        await (await metrics.serve(port, empty)).cleanup()

    asyncio.run(scenario())


def test_the_traffic_counters_are_the_clients_answers_by_kind() -> None:
    traffic = {"ratePerSecond": 5, "sent": 40, "lost": 7,
               "answers": {"ok": 33, "5xx": 4, "refused": 3}, "byPod": {"a": 37}}  # fmt: skip
    scraped = scrape(index(body("served", {**CRASHY, "traffic": traffic}), body("quiet", CRASHY)))
    served = {"namespace": "shop", "healthdemo": "served"}
    found = {
        s["answer"]: scraped("healthdemo_traffic_requests_total", **s)
        for s in scraped.series("healthdemo_traffic_requests_total")
    }
    assert found == {"ok": 33, "5xx": 4, "refused": 3, "reset": 0, "timeout": 0, "other": 0}
    assert all(s["healthdemo"] == "served" for s in scraped.series(
        "healthdemo_traffic_requests_total"))  # fmt: skip
    assert scraped("healthdemo_traffic_requests_total", **served, answer="ok") == 33


def test_the_requests_lost_by_episode_are_the_statuss_running_totals() -> None:
    traffic = {"ratePerSecond": 5, "sent": 40, "lost": 7, "answers": {"ok": 33},
               "lostIn": {"Restart": 5, "PodDeleted": 2}}  # fmt: skip
    scraped = scrape(index(body("served", {**CRASHY, "traffic": traffic}), body("quiet", CRASHY)))
    series = scraped.series("healthdemo_traffic_requests_lost_total")
    found = {s["episode"]: scraped("healthdemo_traffic_requests_lost_total", **s) for s in series}
    # Every kind from 0, so a first loss of a kind is an increase; none without spec.traffic.
    assert found == {"Restart": 5, "OutOfService": 0, "PodDeleted": 2}
    assert {s["healthdemo"] for s in series} == {"served"}
