"""The deployed operator's metrics on the real node: after a real `/start-failing` restart, the
operator's /metrics, read as admin through the API server's service proxy (the way to reach a
Service from outside the cluster without a port-forward), count the restart and its recovery
exactly as the status does."""

from __future__ import annotations

from typing import Any

import pytest
from healthdemo_sandbox.controlplane.users import OPERATOR_NAMESPACE

from ..conftest import Scraped, eventually
from .conftest import Cluster
from .exact_counts import kubelet_failures
from .test_e2e import start_demo

pytestmark = pytest.mark.node

SERVICE = "healthdemo-operator-metrics"
PROXY = f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/services/{SERVICE}:metrics/proxy/metrics"


def scrape(cluster: Cluster, errors: list[str]) -> Scraped | None:
    """The operator's /metrics through the API server (None while its endpoint is not ready:
    why is the last of `errors`)."""
    got = cluster.kubectl("get", "--raw", PROXY, check=False)
    if got.returncode != 0:
        errors.append(got.stderr.strip())
        return None
    return Scraped.parse(got.stdout)


def test_the_deployed_operator_serves_a_real_restart(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(deployed, namespace, "scraped")
    assert demo.call("/start-failing", method="POST")[0] == 200
    healed = demo.until(
        lambda s: s.get("restarts") == 1 and s["history"][0].get("recoverySeconds") is not None,
        "the restart recorded, with its recovery time",
    )
    assert healed["restartReasons"] == {"LivenessProbe": 1}
    assert healed["recovery"]["count"] == 1
    labels = {"namespace": namespace, "healthdemo": "scraped"}

    errors: list[str] = []

    def served() -> tuple[Scraped, dict[str, Any]] | None:
        scraped, status = scrape(deployed, errors), demo.status()
        if scraped is None or scraped("healthdemo_recovery_seconds_count", **labels) != 1:
            return None  # the operator's index may lag the status just written
        failures = scraped("healthdemo_probe_failures_total", **labels, probe="liveness")
        return (scraped, status) if failures == status["probeFailures"] else None

    try:
        scraped, status = eventually(served, what="the restart and its recovery served")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the proxy's last error: {errors[-1:]}") from None
    assert scraped("healthdemo_restarts_total", **labels, reason="LivenessProbe") == 1
    assert scraped("healthdemo_restarts_total", **labels, reason="Crash") == 0
    assert scraped("healthdemo_recovery_seconds_sum", **labels) == status["recovery"]["sumSeconds"]
    assert status["recovery"]["sumSeconds"] == healed["history"][0]["recoverySeconds"]
    assert scraped("healthdemo_recovery_seconds_bucket", **labels, le="+Inf") == 1
    # The probe failures served are the kubelet's own count (read as admin), not only the status'.
    pod_uid = demo.pod()["metadata"]["uid"]
    eventually(
        lambda: (
            (served_now := scrape(deployed, errors)) is not None
            and served_now("healthdemo_probe_failures_total", **labels, probe="liveness")
            == kubelet_failures(deployed, pod_uid, "Liveness")
            >= 2
        ),
        what="the served probe failures equal to the kubelet's",
    )
    assert (scraped("healthdemo_operator_reconcile_duration_seconds_count") or 0) >= 1
