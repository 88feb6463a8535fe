"""A real Prometheus (Debian's) beside the real node, scraping the operator deployed in the cluster
the way the metrics docs say: its Service's prometheus.io/* annotations, as Kubernetes discovery
(role: endpoints) shows them, relabelled into the operator Pod's address and path. Debian's build
has no Kubernetes discovery, so the test is that discovery: it reads the Service and its
EndpointSlices from the API server and hands Prometheus the targets and meta labels through a
file, again whenever they change. Prometheus then scrapes the Pod over the Pod network and
evaluates deploy/prometheus/healthdemo-alerts.yaml. After the seed's demo restarts for real, and
after the operator's Pod is deleted and its Deployment makes another (a new process at a new
address), the docs' PromQL and the rules give the status's numbers: no series reset."""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ..conftest import eventually
from ..reliability.test_prometheus_scrape import (
    ANNOTATIONS,
    OPERATOR_NAMESPACE,
    RULES,
    SERVICE,
    Prometheus,
    annotations_job,
    check_docs_promql,
    check_recorded,
    kubernetes_sd_targets,
    prometheus_binary,  # noqa: F401  (the fixture)
    served,
)
from .conftest import Cluster
from .test_e2e import start_demo

pytestmark = pytest.mark.node

ENDPOINTS_JOB = "kubernetes-service-endpoints"


def discovered(cluster: Cluster) -> list[dict[str, Any]]:
    """What discovery (role: endpoints) shows of the operator's metrics Service: each ready
    endpoint's address and the Service's port, with the Service's meta labels."""
    name = SERVICE["metadata"]["name"]
    service = cluster.get("service", name, OPERATOR_NAMESPACE)
    slices = json.loads(
        cluster.kubectl(
            "get", "endpointslices", "-n", OPERATOR_NAMESPACE, "-o", "json",
            "-l", f"kubernetes.io/service-name={name}",
        ).stdout
    )["items"]  # fmt: skip
    labels = kubernetes_sd_targets(service)[0]["labels"]
    ports = [p["port"] for s in slices for p in s.get("ports") or []]
    addresses = [
        address
        for s in slices
        for endpoint in s.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready")
        for address in endpoint["addresses"]
    ]
    targets = sorted({f"{address}:{port}" for address in addresses for port in ports})
    return [{"targets": targets, "labels": labels}] if targets else []


def endpoints_job(sd_file: Path) -> dict[str, Any]:
    """The annotation-driven job of the docs, on endpoints: the Pod's address with the
    annotations' port and path, the operator's namespace as the target's `namespace` (which
    honor_labels keeps from overwriting the HealthDemos' own)."""
    job = annotations_job(sd_file)
    relabel = [
        *job["relabel_configs"],
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
    ]
    return {**job, "job_name": ENDPOINTS_JOB, "scrape_interval": "1s", "relabel_configs": relabel}


def test_prometheus_scrapes_the_operator_in_the_cluster_through_its_service(
    deployed: Cluster,
    namespace: str,
    prometheus_binary: str,  # noqa: F811  (the imported fixture)
    tmp_path: Path,
) -> None:
    sd_file = tmp_path / "endpoints.json"

    def discover() -> list[str]:
        found = discovered(deployed)
        sd_file.write_text(json.dumps(found))
        return found[0]["targets"] if found else []

    first_targets = eventually(discover, what="the operator's ready endpoint")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [endpoints_job(sd_file)],
    }
    prometheus = Prometheus(prometheus_binary, tmp_path, config)
    prometheus.start()
    try:
        # The annotations made the scrape URL: the Pod's address, their port and path.
        port, path = ANNOTATIONS["prometheus.io/port"], ANNOTATIONS["prometheus.io/path"]
        (pod_ip,) = {target.split(":")[0] for target in first_targets}

        def scraping() -> list[str] | None:
            targets = prometheus.api("targets", state="active")["activeTargets"]
            up = [t["scrapeUrl"] for t in targets if t["health"] == "up"]
            return up or None

        assert eventually(scraping, what="the operator scraped") == [
            f"http://{pod_ip}:{port}{path}"
        ]

        # The seed's demo, every counter seen at 0 before its restart.
        demo = start_demo(deployed, namespace, "demo")
        eventually(
            partial(served, prometheus, namespace, {}, since=0, job=ENDPOINTS_JOB),
            what="the demo's series at 0",
        )
        assert demo.call("/start-failing", method="POST")[0] == 200
        first = demo.until(
            lambda s: s.get("restarts") == 1 and (s.get("recovery") or {}).get("count") == 1,
            "the restart recorded, with its recovery",
        )
        firing = (
            f'ALERTS{{alertname="HealthDemoRestarted", alertstate="firing", '
            f'namespace="{namespace}", healthdemo="demo"}}'
        )
        eventually(
            lambda: (
                served(prometheus, namespace, first, since=0, job=ENDPOINTS_JOB)
                and prometheus.value(firing) == 1
            ),
            what="the restart scraped, recorded, HealthDemoRestarted firing",
        )
        check_docs_promql(prometheus, demo.status(), namespace)
        check_recorded(prometheus, namespace, restarts=1)

        # The operator's Pod deleted: its Deployment makes another, at another address, and
        # discovery follows it. The totals come from the status: the same numbers, no reset.
        deployed.kubectl(
            "delete", "pod", "-n", OPERATOR_NAMESPACE,
            "-l", "app.kubernetes.io/name=healthdemo-operator", "--wait=false",
        )  # fmt: skip
        eventually(
            lambda: (found := discover()) and found != first_targets,
            timeout=120,
            what="the new operator Pod's ready endpoint",
        )
        since = time.time()
        eventually(
            partial(served, prometheus, namespace, first, since=since, job=ENDPOINTS_JOB),
            timeout=90,
            what="the new operator scraped, the demo's series back",
        )
        check_docs_promql(prometheus, demo.status(), namespace)
        check_recorded(prometheus, namespace, restarts=1)
        processes = prometheus.value(
            f'count(count_over_time(process_start_time_seconds{{job="{ENDPOINTS_JOB}"}}[1h]))'
        )
        assert processes == 2, "Prometheus did not scrape both operator Pods"
    finally:
        prometheus.stop()
