"""The operator's /metrics over real HTTP, against the real kube-apiserver, with the operator a
local process as its ServiceAccount: the counters are the status's, and an operator restart —
clean or SIGKILL — neither resets nor doubles them. The test plays the kubelet through the API."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.kubeletstandin import KubeletStandIn
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import ROOT, Scraped, eventually
from .kubelet_actor import KILLING, LIVENESS_500, KubeletActor
from .test_operator import counts_complete, start_demo, status

pytestmark = pytest.mark.controlplane


def scrape(operator: LocalOperator) -> Scraped | None:
    """GET /metrics from the operator (None while it is not answering)."""
    try:
        with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return Scraped.parse(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def per_demo(scraped: Scraped, namespace: str) -> dict[str, float]:
    """The HealthDemo "demo"'s series, by name and the label that tells them apart."""
    found: dict[str, float] = {}
    for (name, labels), value in scraped.samples.items():
        tags = dict(labels)
        if tags.get("namespace") == namespace and tags.get("healthdemo") == "demo":
            other = sorted(v for k, v in tags.items() if k not in ("namespace", "healthdemo"))
            found["/".join([name, *other])] = value
    return found


def restart(kubelet: KubeletActor, unhealthy: str, failures: int, restarts: int) -> None:
    """The kubelet's story of one liveness restart: failures up to the threshold, the kill, the
    new container running and ready."""
    kubelet.aggregate(unhealthy, failures)
    kubelet.event("Killing", KILLING, event_type="Normal")
    ended = kubelet.terminated(exit_code=0, reason="Completed")
    kubelet.run_container(restarts=restarts, last_terminated=ended)


def recorded(custom: client.CustomObjectsApi, namespace: str, restarts: int) -> dict[str, Any]:
    return eventually(
        lambda: (
            (s := status(custom, namespace)).get("restarts") == restarts
            and s["history"][0].get("recoverySeconds") is not None
            and s
        ),
        what=f"restart {restarts} recorded, with its recovery time",
    )


# Every cause the CRD declares: each is served, zero or not.
RESTART_REASONS = tuple(
    yaml.safe_load((ROOT / "crds" / "healthdemo.yaml").read_text())["spec"]["versions"][0][
        "schema"
    ]["openAPIV3Schema"]["properties"]["status"]["properties"]["lastRestartReason"]["enum"]
)


def expected_series(recorded: dict[str, Any]) -> dict[str, float]:
    """What the status says, as the series it should be served as."""
    series = {
        f"healthdemo_restarts_total/{reason}": float(recorded["restartReasons"].get(reason, 0))
        for reason in RESTART_REASONS
    }
    series["healthdemo_probe_failures_total/liveness"] = recorded["probeFailures"]
    series["healthdemo_probe_failures_total/readiness"] = recorded.get("readinessFailures", 0)
    series["healthdemo_probe_failures_total/startup"] = recorded.get("startupFailures", 0)
    recovery = recorded["recovery"]
    series["healthdemo_recovery_seconds_count"] = recovery["count"]
    series["healthdemo_recovery_seconds_sum"] = recovery["sumSeconds"]
    for bound, count in recovery["buckets"].items():
        series[f"healthdemo_recovery_seconds_bucket/{float(bound)!r}"] = count
    series["healthdemo_recovery_seconds_bucket/+Inf"] = recovery["count"]
    return series


def served_exactly(
    operator: LocalOperator, namespace: str, expected: dict[str, float], *, restarted: bool
) -> Scraped:
    """Scrape until the HealthDemo's series say what its status says. On the way no series may
    go down or past the status (reset, doubled): this operator's index may lag the status just
    written by a watch event. A restarted operator serves no series until it has listed the
    HealthDemos (no series is no reset), and then the status exactly."""
    seen: dict[str, float] = {}

    def check() -> Scraped | None:
        scraped = scrape(operator)
        if scraped is None:
            return None
        served = per_demo(scraped, namespace)
        if not served:
            assert not seen, "the series went away"
            return None
        if restarted and not seen:
            assert served == expected, "listed anew, yet not the status"
        assert served.keys() == expected.keys()
        for key, value in served.items():
            assert seen.get(key, 0) <= value <= expected[key], (key, seen.get(key), value)
        seen.update(served)
        return scraped if served == expected else None

    return eventually(check, what="the HealthDemo's series served as in its status")


def test_the_counters_survive_operator_restarts_exactly(
    operator: LocalOperator,
    installed: ControlPlane,
    core: client.CoreV1Api,
    namespace: str,
    kubelet_node: KubeletStandIn,
) -> None:
    """On both sources: the Pod runs on a stand-in kubelet's Node, whose counter says more than
    the Events."""
    custom = client.CustomObjectsApi(installed.api_client())
    kubelet = start_demo(installed, core, namespace)
    kubelet.place(kubelet_node)
    kubelet.run_container()
    unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
    kubelet.counted(3)
    restart(kubelet, unhealthy, failures=3, restarts=1)
    first = recorded(custom, namespace, restarts=1)
    assert first["restartReasons"] == {"LivenessProbe": 1}
    assert first["probeFailures"] == 3
    assert counts_complete(first) == ("True", "Exact")
    assert first["recovery"]["count"] == 1
    expected = expected_series(first)
    assert expected["healthdemo_restarts_total/LivenessProbe"] == 1
    assert expected["healthdemo_probe_failures_total/liveness"] == 3

    scraped = served_exactly(operator, namespace, expected, restarted=False)
    assert (scraped("healthdemo_operator_reconcile_duration_seconds_count") or 0) >= 1
    assert scraped("healthdemo_operator_workqueue_depth") is not None
    assert scraped("healthdemo_operator_reconcile_errors_total") is not None

    # A clean restart, then a crash: the same numbers, not reset, not doubled.
    operator.stop()
    operator.start()
    served_exactly(operator, namespace, expected, restarted=True)
    operator.kill()
    operator.start()
    served_exactly(operator, namespace, expected, restarted=True)

    # And the next restart counts on from there: 2, with its recovery, each once.
    kubelet.counted(8)  # 2 more than its Events tell: the Event budget is spent
    restart(kubelet, unhealthy, failures=6, restarts=2)
    second = recorded(custom, namespace, restarts=2)
    assert second["restartReasons"] == {"LivenessProbe": 2}
    assert second["recovery"]["count"] == 2
    second = eventually(
        lambda: (s := status(custom, namespace)).get("probeFailures") == 8 and s,
        what="the counter's 8 failures",
    )
    assert counts_complete(second) == ("True", "Exact")
    served_exactly(operator, namespace, expected_series(second), restarted=False)

    # A deleted HealthDemo's series go with it.
    installed.kubectl("delete", "healthdemo", "demo", "-n", namespace)
    eventually(
        lambda: (scraped := scrape(operator)) is not None and not per_demo(scraped, namespace),
        what="the deleted HealthDemo's series gone",
    )


# -- deploy/: the Service, and the ServiceMonitor that is not applied by default -------------------


def test_deploy_applies_without_the_prometheus_operator(installed: ControlPlane) -> None:
    """`kubectl apply -k deploy/` (the `installed` fixture did it) made the metrics Service, and
    no ServiceMonitor: this cluster has no Prometheus Operator CRDs."""
    service = yaml.safe_load(
        installed.kubectl(
            "get", "service", "healthdemo-operator-metrics", "-n", "healthdemo-system", "-o",
            "yaml",
        ).stdout
    )  # fmt: skip
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    (port,) = service["spec"]["ports"]
    assert annotations["prometheus.io/port"] == str(port["port"])
    assert port["targetPort"] == "metrics"
    deployment = yaml.safe_load(
        installed.kubectl(
            "get", "deployment", "healthdemo-operator", "-n", "healthdemo-system", "-o", "yaml"
        ).stdout
    )
    assert (
        service["spec"]["selector"].items() <= deployment["spec"]["selector"]["matchLabels"].items()
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == 9090  # HEALTHDEMO_METRICS_PORT's default
    rendered = installed.kubectl("kustomize", str(ROOT / "deploy")).stdout
    assert "ServiceMonitor" not in rendered


def test_the_servicemonitor_component_scrapes_the_metrics_service(
    installed: ControlPlane, tmp_path: Path
) -> None:
    """A kustomization of the user's own: deploy/ + the component."""
    relative = Path(os.path.relpath(ROOT, tmp_path))  # kustomize takes no absolute paths
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [str(relative / "deploy")],
                "components": [str(relative / "deploy" / "components" / "servicemonitor")],
            }
        )
    )
    objects = list(yaml.safe_load_all(installed.kubectl("kustomize", str(tmp_path)).stdout))
    by_kind = {o["kind"]: o for o in objects}
    monitor, service = by_kind["ServiceMonitor"], by_kind["Service"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == service["metadata"]["annotations"]["prometheus.io/path"]
    assert endpoint["honorLabels"] is True  # the HealthDemo's namespace label, not ours
