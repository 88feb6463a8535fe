"""Prometheus metrics, served by the operator on its own port: HEALTHDEMO_METRICS_PORT (9090;
0 serves none), path /metrics.

Nothing per HealthDemo is counted here. Each scrape reads the totals from the statuses the
operator already holds (the `healthdemos` index), where the ledger keeps them exact: so an
operator that restarts — cleanly, SIGKILLed, or another replica taking over — shows the same
counters, never reset to zero and never doubled, and a deleted HealthDemo's series go with it.
Only the numbers about this process (reconcile durations and errors, the queue) start again from
zero with it, and their HELP says so.

A scrape takes what it shows in the event loop, where the index and the queue change: the
index's bodies by reference (each watch event replaces a body, nothing changes one in place),
well under 1 ms for a thousand HealthDemos. It reads and formats them in the loop's default
executor (the one `asyncio.to_thread` already uses for API calls): some 0.3 s of CPU for a
thousand HealthDemos (22,000 series), while the event loop runs on (the two share the GIL,
which changes hands every 5 ms). The text is Prometheus' own format 0.0.4, which every scraper
takes (prometheus_client's OpenMetrics writer is twice as slow).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.status.causes import REASONS
from healthdemo_operator.status.status import RECOVERY_BUCKETS, bucket_key
from healthdemo_operator.traffic import episodes, tally

logger = logging.getLogger(__name__)

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes

# The probe label's values, and the status field that counts each one's failures.
PROBE_FIELDS = {
    "liveness": "probeFailures",
    "readiness": "readinessFailures",
    "startup": "startupFailures",
}
KEPT = "from the HealthDemo's status, so it survives operator restarts"
THIS_PROCESS = "this operator process only: starts from zero when it restarts"


class Collector(Protocol):
    """What prometheus_client's encoders read: anything with collect()."""

    def collect(self) -> Iterable[Metric]: ...


def _answers(traffic: Mapping[str, Any] | None) -> dict[str, int] | None:
    """Every kind from the start (a first failure is then an increase from 0)."""
    if not traffic:
        return None
    answers = traffic.get("answers") or {}
    return {kind: int(answers.get(kind) or 0) for kind in (*tally.KINDS, *answers)}


def _lost_in(traffic: Mapping[str, Any] | None) -> dict[str, int] | None:
    if not traffic:
        return None
    lost = traffic.get("lostIn") or {}
    return {kind: int(lost.get(kind) or 0) for kind in (*episodes.KINDS, *lost)}


@dataclass(frozen=True)
class Recorded:
    """One HealthDemo's cumulative numbers, copied from its status."""

    namespace: str
    name: str
    restarts: dict[str, int]  # by reason: every known reason, 0 if none yet
    probe_failures: dict[str, int]  # by probe: liveness, readiness, startup
    recovery_buckets: tuple[int, ...]  # cumulative, one per RECOVERY_BUCKETS bound
    recovery_count: int
    recovery_sum: float
    traffic: dict[str, int] | None = None  # spec.traffic: the client's answers by kind
    lost_in: dict[str, int] | None = None  # spec.traffic: requests lost by kind of episode

    @classmethod
    def of(cls, healthdemo: HealthDemo) -> Recorded:
        status = healthdemo.status
        reasons = status.get("restartReasons") or {}
        recovery = status.get("recovery") or {}
        buckets = recovery.get("buckets") or {}
        return cls(
            namespace=healthdemo.namespace,
            name=healthdemo.name,
            # Every reason from the start, so that a first restart is an increase from 0 (a
            # series that appears at 1 shows no increase in PromQL's rate and increase).
            restarts={reason: int(reasons.get(reason) or 0) for reason in (*REASONS, *reasons)},
            probe_failures={
                probe: int(status.get(field) or 0) for probe, field in PROBE_FIELDS.items()
            },
            recovery_buckets=tuple(int(buckets.get(bucket_key(b)) or 0) for b in RECOVERY_BUCKETS),
            recovery_count=int(recovery.get("count") or 0),
            recovery_sum=float(recovery.get("sumSeconds") or 0),
            traffic=_answers(status.get("traffic")),
            lost_in=_lost_in(status.get("traffic")),
        )


@dataclass(frozen=True)
class Scrape:
    """What one scrape shows: taken in the event loop, read and formatted in another thread."""

    healthdemos: list[HealthDemo]  # the cache's views (replaced, never changed)
    queue_depth: int
    reconcile_errors: int
    process: tuple[Collector, ...] = ()  # thread-safe collectors: durations, process_*

    def collect(self) -> Iterator[Metric]:
        labels = ["namespace", "healthdemo"]
        restarts = CounterMetricFamily(
            "healthdemo_restarts",
            f"Container restarts of a HealthDemo by cause (status.restartReasons); {KEPT}.",
            labels=[*labels, "reason"],
        )
        failures = CounterMetricFamily(
            "healthdemo_probe_failures",
            "Probe failures the kubelet reported, by probe (status.probeFailures, "
            f"readinessFailures, startupFailures); {KEPT}.",
            labels=[*labels, "probe"],
        )
        recovery = HistogramMetricFamily(
            "healthdemo_recovery_seconds",
            "Restart to ready again: first probe failure (or the crash) until the container "
            f"was ready (status.recovery, history[].recoverySeconds); {KEPT}.",
            labels=labels,
        )
        traffic = CounterMetricFamily(
            "healthdemo_traffic_requests",
            "Requests the traffic client sent through the HealthDemo's Service, by how each "
            f"ended: ok, 5xx, refused, reset, timeout, other (status.traffic.answers); {KEPT}.",
            labels=[*labels, "answer"],
        )
        lost = CounterMetricFamily(
            "healthdemo_traffic_requests_lost",
            "Requests the traffic client lost, by the episode that cost them: Restart (first "
            "failure to ready again), OutOfService (a spell with no restart in it), PodDeleted "
            f"(deletion to its successor ready) (status.traffic.lostIn); {KEPT}.",
            labels=[*labels, "episode"],
        )
        bounds = [repr(float(b)) for b in RECOVERY_BUCKETS]  # le="2.5", as Go prints it
        for healthdemo in self.healthdemos:
            demo = Recorded.of(healthdemo)
            names = [demo.namespace, demo.name]
            for reason, count in demo.restarts.items():
                restarts.add_metric([*names, reason], count)
            for probe, count in demo.probe_failures.items():
                failures.add_metric([*names, probe], count)
            for answer, count in (demo.traffic or {}).items():
                traffic.add_metric([*names, answer], count)
            for kind, count in (demo.lost_in or {}).items():
                lost.add_metric([*names, kind], count)
            recovery.add_metric(
                names,
                [*zip(bounds, demo.recovery_buckets, strict=True), ("+Inf", demo.recovery_count)],
                demo.recovery_sum,
            )
        yield from (restarts, failures, recovery, traffic, lost)
        yield CounterMetricFamily(
            "healthdemo_operator_reconcile_errors",
            f"Reconciles that failed and were retried; {THIS_PROCESS}.",
            value=self.reconcile_errors,
        )
        yield GaugeMetricFamily(
            "healthdemo_operator_workqueue_depth",
            "HealthDemos waiting in the work queue (due now or scheduled, or changed while "
            "being reconciled).",
            value=self.queue_depth,
        )
        for collector in self.process:
            yield from collector.collect()


class OperatorMetrics:
    """The operator's metrics: the one histogram this process keeps, and how to take a scrape."""

    def __init__(self) -> None:
        # Not in prometheus_client's global registry: one set per operator, also in tests.
        self.reconcile_seconds = Histogram(
            "healthdemo_operator_reconcile_duration_seconds",
            f"How long one reconcile took (observe, ensure the Pod, record, write); "
            f"{THIS_PROCESS}.",
            registry=None,
        )
        self.process = ProcessCollector(registry=None)

    def scrape(
        self,
        healthdemos: Iterable[HealthDemo],
        *,
        queue_depth: int,
        reconcile_errors: int,
    ) -> Scrape:
        """Take what a scrape shows; in the event loop, where the cache and the queue change."""
        return Scrape(
            healthdemos=list(healthdemos),
            queue_depth=queue_depth,
            reconcile_errors=reconcile_errors,
            process=(self.reconcile_seconds, self.process),
        )


def render(scrape: Collector, accept_encoding: str = "") -> tuple[bytes, dict[str, str]]:
    """The text, gzipped if the scraper takes that (Prometheus does): a thousand HealthDemos
    are 2 MB of text, 85 kB gzipped."""
    body: bytes = generate_latest(scrape)
    headers = {"Content-Type": CONTENT_TYPE}
    if "gzip" in accept_encoding:
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return body, headers


async def serve(port: int, scrape: Callable[[], Collector]) -> web.AppRunner:
    """Serve GET /metrics on every IPv4 address at `port` from the event loop; stop with
    `runner.cleanup()`. Raises OSError if the port is taken."""

    async def metrics(request: web.Request) -> web.Response:
        taken = scrape()
        body, headers = await asyncio.to_thread(
            render, taken, request.headers.get("Accept-Encoding", "")
        )
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_get(PATH, metrics)
    runner = web.AppRunner(app, access_log=None)  # a scrape every 15 s is no news
    await runner.setup()
    try:
        await web.TCPSite(runner, host="0.0.0.0", port=port).start()  # as Kopf's --liveness
    except BaseException:
        await runner.cleanup()
        raise
    logger.info("serving metrics on port %s at %s", port, PATH)
    return runner
