"""A real Prometheus (Debian's `prometheus`) against the operator, on the real control plane: it
finds the metrics Service by its prometheus.io/* annotations as the metrics docs say, scrapes the
operator (a local process, as its ServiceAccount) with honor_labels, and evaluates
deploy/prometheus/healthdemo-alerts.yaml. After a real restart (the test plays the kubelet, the
Pod on a stand-in kubelet's Node) the docs' PromQL and the recorded series give the status's
numbers; after the operator is stopped and started again, and killed and started again, the
same numbers: no series reset, and increase() shows no restart that did not happen."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_operator.status.status import RECOVERY_BUCKETS, bucket_key
from healthdemo_sandbox.childprocess import ChildProcess
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.kubeletstandin import KubeletStandIn
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import REQUIRE_NODE, ROOT, eventually, free_port, unavailable
from ..deploy.test_prometheus_rules import docs_expressions, metrics_docs
from ..healthdemo_operator.kubelet_actor import LIVENESS_500
from ..healthdemo_operator.test_operator import start_demo, status
from ..healthdemo_operator.test_operator_metrics import recorded, restart

pytestmark = pytest.mark.controlplane

RULES = ROOT / "deploy" / "prometheus" / "healthdemo-alerts.yaml"
SERVICE = yaml.safe_load((ROOT / "deploy" / "service.yaml").read_text())
ANNOTATIONS: dict[str, str] = SERVICE["metadata"]["annotations"]
OPERATOR_JOB = "healthdemo-operator"
ANNOTATIONS_JOB = "kubernetes-service-annotations"
OPERATOR_NAMESPACE = SERVICE["metadata"]["namespace"]
# The per-HealthDemo series (not the operator's own, healthdemo_operator_*): those a test scopes
# to its namespace, since other tests' HealthDemos share the control plane and the operator.
PER_HEALTHDEMO = re.compile(r"(?<![\w:])(healthdemo_(?!operator_)\w+)(?:\{([^}]*)\})?")


class Prometheus(ChildProcess):
    """The real server, in its own directory, on a free loopback port: 1 s scrapes and rule
    evaluations, so that a test waits seconds, not minutes."""

    def __init__(self, binary: str, workdir: Path, config: dict[str, Any]) -> None:
        super().__init__(workdir / "prometheus.log")
        self.binary, self.workdir = binary, workdir
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        argv = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, ConnectionError):
                return False

        eventually(ready, timeout=timeout, what=f"prometheus ready at {self.url}")

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: its data (a failed query raises, with Prometheus' error)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read())
        if body.get("status") != "success":
            raise AssertionError(f"/api/v1/{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: each element's labels and value."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        return [(e["metric"], float(e["value"][1])) for e in data["result"]]

    def value(self, expr: str) -> float | None:
        """The one element's value; None if there is none."""
        found = self.query(expr)
        assert len(found) <= 1, (expr, found)
        return found[0][1] if found else None


def kubernetes_sd_targets(service: dict[str, Any]) -> list[dict[str, Any]]:
    """What Prometheus' Kubernetes discovery (role: service) makes of `service`, one target per
    port: Debian's prometheus is built without it (no kubernetes_sd_configs), so the test hands
    Prometheus the same target and meta labels through a file_sd file."""
    meta = service["metadata"]
    labels = {
        "__meta_kubernetes_namespace": meta["namespace"],
        "__meta_kubernetes_service_name": meta["name"],
    }
    for key, value in (meta.get("annotations") or {}).items():
        name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
        labels[f"__meta_kubernetes_service_annotation_{name}"] = value
        labels[f"__meta_kubernetes_service_annotationpresent_{name}"] = "true"
    address = f"{meta['name']}.{meta['namespace']}.svc"
    return [
        {
            "targets": [f"{address}:{port['port']}"],
            "labels": {**labels, "__meta_kubernetes_service_port_name": port.get("name", "")},
        }
        for port in service["spec"]["ports"]
    ]


def annotations_job(sd_file: Path) -> dict[str, Any]:
    """The annotation-driven scrape config the docs point to: keep the Services whose
    prometheus.io/scrape is "true", take the path and the port from their annotations."""
    meta = "__meta_kubernetes_service_annotation_prometheus_io_"
    return {
        "job_name": ANNOTATIONS_JOB,
        "honor_labels": True,
        "scrape_interval": "1m",  # it cannot reach the Service here (no cluster DNS): see below
        "file_sd_configs": [{"files": [str(sd_file)]}],
        "relabel_configs": [
            {"source_labels": [f"{meta}scrape"], "action": "keep", "regex": "true"},
            {
                "source_labels": [f"{meta}path"],
                "regex": "(.+)",
                "target_label": "__metrics_path__",
            },
            {
                "source_labels": ["__address__", f"{meta}port"],
                "regex": r"([^:]+)(?::\d+)?;(\d+)",
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
        ],
    }


def operator_job(target: str) -> dict[str, Any]:
    """The local operator process, where the discovered Service would send Prometheus: the
    annotations' path, honor_labels, and the operator's namespace as the discovery's target
    label (which honor_labels must not let overwrite the HealthDemos' `namespace`)."""
    return {
        "job_name": OPERATOR_JOB,
        "honor_labels": True,
        "metrics_path": ANNOTATIONS["prometheus.io/path"],
        "static_configs": [{"targets": [target], "labels": {"namespace": OPERATOR_NAMESPACE}}],
    }


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        unavailable(
            "no prometheus binary: Debian's prometheus package has it "
            "(sandbox/setup-host.sh installs it)",
            REQUIRE_NODE,
        )
    return found


@pytest.fixture
def prometheus(
    prometheus_binary: str, installed: ControlPlane, operator: LocalOperator, tmp_path: Path
) -> Iterator[Prometheus]:
    core = client.CoreV1Api(installed.api_client())
    service = core.api_client.sanitize_for_serialization(
        core.read_namespaced_service(SERVICE["metadata"]["name"], OPERATOR_NAMESPACE)
    )
    sd_file = tmp_path / "kubernetes-services.json"
    sd_file.write_text(json.dumps(kubernetes_sd_targets(service)))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            annotations_job(sd_file),
            operator_job(f"127.0.0.1:{operator.metrics_port}"),
        ],
    }
    server = Prometheus(prometheus_binary, tmp_path, config)
    server.start()
    yield server
    server.stop()


def scoped(expr: str, namespace: str) -> str:
    """`expr` with every per-HealthDemo selector limited to `namespace`."""

    def limit(found: re.Match[str]) -> str:
        matchers = [m for m in [found.group(2)] if m]
        return f"{found.group(1)}{{{', '.join([*matchers, f'namespace={json.dumps(namespace)}'])}}}"

    return PER_HEALTHDEMO.sub(limit, expr)


def bucket_bounds(recovery: dict[str, Any], quantile: float) -> tuple[float, float]:
    """The bucket the status's recovery histogram (cumulative, as the operator serves it) puts
    `quantile` in: (lower, upper]."""
    lower = 0.0
    for bound in RECOVERY_BUCKETS:
        if int(recovery["buckets"].get(bucket_key(bound)) or 0) >= quantile * recovery["count"]:
            return lower, bound
        lower = bound
    return lower, math.inf


def docs_answers(
    recorded_status: dict[str, Any], namespace: str
) -> dict[str, Callable[[list[tuple[dict[str, str], float]]], None]]:
    """What the docs' PromQL must answer, scoped to `namespace`, for a HealthDemo "demo" whose
    status is `recorded_status` (its restarts all LivenessProbe, each seen from 0 by this
    Prometheus): keyed by the docs' exact expressions."""
    restarts = recorded_status["restarts"]
    recovery = recorded_status["recovery"]

    def per_reason(found: list[tuple[dict[str, str], float]]) -> None:
        by_reason = {labels["reason"]: value for labels, value in found}
        assert round(by_reason.pop("LivenessProbe")) == restarts, found
        assert set(by_reason.values()) == {0.0}, found

    def which_restarted(found: list[tuple[dict[str, str], float]]) -> None:
        ((labels, value),) = found
        assert labels == {"namespace": namespace, "healthdemo": "demo", "reason": "LivenessProbe"}
        # increase() extrapolates a little past the last sample, never below what it saw.
        assert value >= restarts and round(value) == restarts, value

    def p90(found: list[tuple[dict[str, str], float]]) -> None:
        ((_, value),) = found
        lower, upper = bucket_bounds(recovery, 0.9)
        # In the +Inf bucket, histogram_quantile answers the highest finite bound.
        assert lower < value <= upper or value == lower == RECOVERY_BUCKETS[-1], (value, recovery)

    def mean(found: list[tuple[dict[str, str], float]]) -> None:
        ((_, value),) = found
        assert value == pytest.approx(recovery["sumSeconds"] / recovery["count"]), recovery

    def probe_failures(found: list[tuple[dict[str, str], float]]) -> None:
        by_probe = {labels["probe"]: value for labels, value in found}
        assert by_probe.keys() == {"liveness", "readiness", "startup"}, found
        assert by_probe["readiness"] == by_probe["startup"] == 0, found

    def nothing(found: list[tuple[dict[str, str], float]]) -> None:
        assert found == [], found

    return {
        "sum by (reason) (increase(healthdemo_restarts_total[1h]))": per_reason,
        "sum by (namespace, healthdemo, reason) (increase(healthdemo_restarts_total[1h])) > 0": (
            which_restarted
        ),
        "histogram_quantile(0.9, sum by (le) (rate(healthdemo_recovery_seconds_bucket[1d])))": p90,
        "sum(rate(healthdemo_recovery_seconds_sum[1d])) / "
        "sum(rate(healthdemo_recovery_seconds_count[1d]))": mean,
        "sum by (namespace, healthdemo, probe) (rate(healthdemo_probe_failures_total[5m])) * 60": (
            probe_failures
        ),
        'increase(healthdemo_restarts_total{reason="LivenessProbe"}[15m]) >= 4': nothing,
    }


# increase() extrapolates to the end of its window by up to 1.1 scrape intervals past the last
# sample: a series only a few samples long reads 1 restart as up to 2. With this many samples
# the reading is at most 1.1/20 = 5.5 % high, so rounding gives the true count (up to 9).
SAMPLES_FOR_INCREASE = 21


def check_docs_promql(
    prometheus: Prometheus, recorded_status: dict[str, Any], namespace: str
) -> None:
    """Every ```promql expression of the metrics docs runs on the real data; those with a known
    answer give it (once the demo's series is long enough for increase() to read it close)."""
    series = f'healthdemo_restarts_total{{namespace="{namespace}", healthdemo="demo"}}'
    eventually(
        lambda: (
            (prometheus.value(f"max(count_over_time({series}[1h]))") or 0) >= SAMPLES_FOR_INCREASE
        ),
        timeout=60,
        what=f"{SAMPLES_FOR_INCREASE} samples of the demo's restarts",
    )
    expressions = [expr for _, expr in docs_expressions(metrics_docs().read_text())]
    answers = docs_answers(recorded_status, namespace)
    missing = answers.keys() - set(expressions)
    assert not missing, f"{metrics_docs()} no longer gives {sorted(missing)}: update this test"
    for expr in expressions:
        found = prometheus.query(scoped(expr, namespace))
        if expr in answers:
            answers[expr](found)


def check_recorded(prometheus: Prometheus, namespace: str, restarts: int) -> None:
    """The rules file's series and alerts: one series per HealthDemo, the status's total."""
    demo = f'namespace="{namespace}", healthdemo="demo"'
    total = f"namespace_healthdemo:healthdemo_restarts_total:max_sum{{{demo}}}"
    assert prometheus.value(total) == restarts
    increase = prometheus.value(f"increase({total}[1h])")
    assert increase is not None and increase >= restarts and round(increase) == restarts
    liveness = (
        "namespace_healthdemo_reason:healthdemo_restarts_total:max"
        f'{{{demo}, reason="LivenessProbe"}}'
    )
    assert prometheus.value(liveness) == restarts
    assert (
        prometheus.value(f'ALERTS{{alertname="HealthDemoKilledByLivenessProbe", {demo}}}') is None
    )
    # Nothing the status counts ever went down in Prometheus' eyes.
    resets = prometheus.query(f"resets(healthdemo_restarts_total{{{demo}}}[1h]) > 0")
    resets += prometheus.query(f"resets(healthdemo_probe_failures_total{{{demo}}}[1h]) > 0")
    resets += prometheus.query(f"resets(healthdemo_recovery_seconds_count{{{demo}}}[1h]) > 0")
    assert resets == [], resets


def served(
    prometheus: Prometheus,
    namespace: str,
    recorded_status: dict[str, Any],
    since: float,
    job: str = OPERATOR_JOB,
) -> bool:
    """Prometheus scraped (as `job`), after `since` (a Unix time), the demo's restarts and
    recoveries as `recorded_status` counts them, and evaluated the rules on them."""
    demo = f'job="{job}", namespace="{namespace}", healthdemo="demo"'
    restarts = f'healthdemo_restarts_total{{{demo}, reason="LivenessProbe"}}'
    scraped_at = prometheus.value(f"timestamp({restarts})")
    expected = {
        restarts: recorded_status.get("restarts", 0),
        f"healthdemo_recovery_seconds_count{{{demo}}}": (
            (recorded_status.get("recovery") or {}).get("count", 0)
        ),
        f'namespace_healthdemo:healthdemo_restarts_total:max_sum{{namespace="{namespace}"}}': (
            recorded_status.get("restarts", 0)
        ),
    }
    return (
        scraped_at is not None
        and scraped_at > since
        and all(prometheus.value(expr) == value for expr, value in expected.items())
    )


def test_prometheus_finds_the_service_by_its_annotations(
    prometheus: Prometheus, installed: ControlPlane
) -> None:
    """The Service that `kubectl apply -k deploy/` made (the `installed` fixture), read from the
    API server and discovered as Kubernetes discovery shows it, is relabelled by its annotations
    into the scrape URL the docs promise. Scraping that URL needs the cluster's DNS and Pod
    network, which this control plane has not: the scrapes are the operator job's, at the local
    operator's port."""
    port, path = ANNOTATIONS["prometheus.io/port"], ANNOTATIONS["prometheus.io/path"]
    name = SERVICE["metadata"]["name"]
    expected = f"http://{name}.{OPERATOR_NAMESPACE}.svc:{port}{path}"

    def discovered() -> list[str] | None:
        targets = prometheus.api("targets", state="active")["activeTargets"]
        urls = [t["scrapeUrl"] for t in targets if t["scrapePool"] == ANNOTATIONS_JOB]
        return urls or None

    assert eventually(discovered, what="the Service discovered") == [expected]


def test_the_docs_promql_and_the_rules_answer_exactly_across_operator_restarts(
    prometheus: Prometheus,
    operator: LocalOperator,
    installed: ControlPlane,
    namespace: str,
    kubelet_node: KubeletStandIn,
) -> None:
    custom = client.CustomObjectsApi(installed.api_client())
    kubelet = start_demo(installed, client.CoreV1Api(installed.api_client()), namespace)
    kubelet.place(kubelet_node)
    kubelet.run_container()
    # Prometheus has seen every counter at 0 (and recorded it) before the first restart: so
    # increase() counts that restart from 0.
    eventually(lambda: served(prometheus, namespace, {}, since=0), what="the demo's series at 0")

    # A real liveness restart, as the kubelet tells it.
    unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
    kubelet.counted(3)
    restart(kubelet, unhealthy, failures=3, restarts=1)
    first = recorded(custom, namespace, restarts=1)
    assert first["restartReasons"] == {"LivenessProbe": 1}
    firing = (
        f'ALERTS{{alertname="HealthDemoRestarted", alertstate="firing", '
        f'namespace="{namespace}", healthdemo="demo"}}'
    )

    def restarted_and_alerted() -> bool:
        return served(prometheus, namespace, first, since=0) and prometheus.value(firing) == 1

    eventually(restarted_and_alerted, what="restart 1 scraped, recorded, HealthDemoRestarted")
    # The series keep the HealthDemo's namespace (honor_labels); the operator's own get the
    # target's.
    assert (
        prometheus.value(
            f'healthdemo_operator_workqueue_depth{{job="{OPERATOR_JOB}", '
            f'namespace="{OPERATOR_NAMESPACE}"}}'
        )
        is not None
    )
    check_docs_promql(prometheus, status(custom, namespace), namespace)
    check_recorded(prometheus, namespace, restarts=1)

    # A clean restart of the operator, then a crash: Prometheus sees the same totals again,
    # from a new process.
    for stop in (operator.stop, operator.kill):
        stop()
        operator.start()
        since = time.time()
        eventually(
            partial(served, prometheus, namespace, first, since=since),
            timeout=60,
            what="the restarted operator scraped, the demo's series back",
        )
        check_docs_promql(prometheus, status(custom, namespace), namespace)
        check_recorded(prometheus, namespace, restarts=1)
    started = prometheus.value(f'changes(process_start_time_seconds{{job="{OPERATOR_JOB}"}}[1h])')
    assert started is not None and started >= 2, "Prometheus did not scrape three processes"

    # And the next restart counts on from there: 2.
    kubelet.counted(6)
    restart(kubelet, unhealthy, failures=6, restarts=2)
    second = recorded(custom, namespace, restarts=2)
    assert second["restartReasons"] == {"LivenessProbe": 2}
    eventually(lambda: served(prometheus, namespace, second, since=0), what="restart 2 scraped")
    check_docs_promql(prometheus, status(custom, namespace), namespace)
    check_recorded(prometheus, namespace, restarts=2)
    assert prometheus.value(f'up{{job="{OPERATOR_JOB}"}}') == 1
