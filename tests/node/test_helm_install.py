"""charts/healthdemo installed with the real `helm install` on the real node: the operator comes
up from its own image (built here and loaded into the node, so pulled never), serves the sample
HealthDemo (deploy/demo-cr.yaml), records one real liveness restart exactly, and `helm uninstall`
takes it all away again (the CRDs stay: Helm never deletes them).

deploy/ and the chart make the same cluster-wide objects (tests/deploy/test_helm_chart.py), so
they cannot both be installed: where the session's operator is already deployed (the `deployed`
fixture, used by the tests before this one), it is removed first and deployed again afterwards,
as the later tests expect to find it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_sandbox import bringup, helm
from healthdemo_sandbox.controlplane.users import OPERATOR_NAMESPACE
from healthdemo_sandbox.paths import ROOT

from ..conftest import REQUIRE_NODE, Scraped, eventually, unavailable
from .conftest import Cluster
from .test_e2e import running

pytestmark = pytest.mark.node

CHART = ROOT / "charts" / "healthdemo"
RELEASE = "healthdemo"
RELEASE_NAMESPACE = "default"  # Helm's record; the chart makes healthdemo-system (docs/helm.md)
METRICS_PORT = 9191  # not the operator's default: the chart must tell the operator
SERVICE = "healthdemo-operator-metrics"
PROXY = f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/services/{SERVICE}:metrics/proxy/metrics"


@dataclass
class Helm:
    """The real helm, as the cluster's admin, with its own (empty) config and cache."""

    binary: Path
    kubeconfig: Path
    home: Path

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        result = subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True, text=True, env=env, timeout=300, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
        return result


def namespace_gone(cluster: Cluster, timeout: float = 180) -> None:
    """Until healthdemo-system is deleted (not Terminating): deploy/ and the chart both make it."""
    eventually(
        lambda: (
            "NotFound"
            in cluster.kubectl("get", "namespace", OPERATOR_NAMESPACE, check=False).stderr
        ),
        timeout=timeout,
        what=f"namespace {OPERATOR_NAMESPACE} gone",
    )


@pytest.fixture
def without_deploy(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster with no operator of deploy/'s in it (removed if `deployed` had put it there,
    and put back afterwards, waiting until it runs)."""
    was_deployed = (
        cluster.kubectl(
            "get", bringup.OPERATOR_DEPLOYMENT, "-n", OPERATOR_NAMESPACE, check=False
        ).returncode
        == 0
    )
    if was_deployed:
        cluster.kubectl("delete", "-k", str(ROOT / "deploy"), "--wait=false")
        namespace_gone(cluster)
    try:
        yield cluster
    finally:
        if was_deployed:
            namespace_gone(cluster)  # a failed uninstall left it: apply would be refused
            bringup.install(cluster.plane)
            bringup.wait_operator(cluster.plane)


@pytest.fixture
def helm_cli(cluster: Cluster, tmp_path: Path) -> Helm:
    """Asked for before `without_deploy`: with no helm, nothing is removed."""
    try:
        binary = helm.ensure(allow_build=False)
    except helm.MissingHelm as exc:
        unavailable(f"no helm: {exc}", REQUIRE_NODE)
    return Helm(binary, cluster.plane.kubeconfig("admin"), tmp_path / "helm-home")


@pytest.fixture
def released(helm_cli: Helm, without_deploy: Cluster) -> Iterator[Cluster]:
    """`helm install` of the chart (waiting until its objects are ready), `helm uninstall` after
    (also after a failed install, whose objects Helm recorded)."""
    installed = helm_cli(
        "install", RELEASE, str(CHART), "--namespace", RELEASE_NAMESPACE,
        "--set", "image.pullPolicy=Never",  # the image loaded into the node, never pulled
        "--set", f"metrics.port={METRICS_PORT}",
        "--wait", "--timeout", "180s",
        check=False,
    )  # fmt: skip
    try:
        assert installed.returncode == 0, f"helm install: {installed.stderr}"
        yield without_deploy
    finally:
        # The operator's words, for a failed run (the `deployed` fixture keeps its own likewise).
        logs = without_deploy.kubectl(
            "logs", bringup.OPERATOR_DEPLOYMENT, "-n", OPERATOR_NAMESPACE, check=False
        )
        (without_deploy.node.logs / "operator.helm.log").write_text(logs.stdout + logs.stderr)
        helm_cli("uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE, "--wait", "--timeout",
                 "180s")  # fmt: skip
        namespace_gone(without_deploy)


def condition(status: dict[str, Any], kind: str) -> str | None:
    """The status ("True", "False") of one of the HealthDemo's conditions."""
    found = {c["type"]: c["status"] for c in status.get("conditions") or []}
    return found.get(kind)


@pytest.mark.timeout(900)  # removing deploy/'s operator and putting it back are minutes of it
def test_helm_install_runs_the_demo(released: Cluster, helm_cli: Helm, namespace: str) -> None:
    cluster = released
    # The release, as Helm sees it, and the operator it made: the values reached the Pod.
    listed = yaml.safe_load(helm_cli("list", "--namespace", RELEASE_NAMESPACE, "-o", "yaml").stdout)
    (release,) = [r for r in listed if r["name"] == RELEASE]
    assert release["status"] == "deployed"
    assert release["chart"] == "healthdemo-0.1.0"
    deployment = cluster.get("deployment", "healthdemo-operator", OPERATOR_NAMESPACE)
    assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "healthdemo-operator:latest"
    assert container["imagePullPolicy"] == "Never"
    assert deployment["status"].get("readyReplicas") == 1

    # The sample, broken once: /start-failing makes every liveness answer fail until the kubelet
    # restarts the container (3 failures of 2 s periods); the new container is healthy.
    sample = yaml.safe_load((ROOT / "deploy" / "demo-cr.yaml").read_text())
    cluster.apply(sample, namespace)
    name = sample["metadata"]["name"]
    demo = running(cluster, namespace, name)
    assert demo.call("/start-failing", method="POST")[0] == 200
    healed = demo.until(
        lambda s: s.get("restarts") == 1 and s["history"][0].get("recoverySeconds") is not None,
        "the restart recorded, with its recovery time",
        timeout=90,
    )
    assert healed["lastRestartReason"] == "LivenessProbe"
    assert healed["restartReasons"] == {"LivenessProbe": 1}
    (item,) = healed["history"]
    assert item["reason"] == "LivenessProbe"

    # Exactly one, and complete: nothing the kubelet did went uncounted.
    settled = demo.until(
        lambda s: condition(s, "CountsComplete") == "True" and s.get("phase") == "Running",
        "CountsComplete True, Running again",
    )
    assert settled["restarts"] == 1
    assert demo.container_status()["restartCount"] == 1

    # The operator serves its metrics on the chart's port (HEALTHDEMO_METRICS_PORT), through the
    # chart's Service, and counts the same restart.
    labels = {"namespace": namespace, "healthdemo": name}

    def scraped() -> Scraped | None:
        got = cluster.kubectl("get", "--raw", PROXY, check=False)
        if got.returncode != 0:
            return None
        found = Scraped.parse(got.stdout)
        restarts = found("healthdemo_restarts_total", **labels, reason="LivenessProbe")
        return found if restarts else None

    metrics = eventually(scraped, what=f"the restart served on port {METRICS_PORT}")
    assert metrics("healthdemo_restarts_total", **labels, reason="LivenessProbe") == 1
    service = cluster.get("service", SERVICE, OPERATOR_NAMESPACE)
    assert service["spec"]["ports"][0]["port"] == METRICS_PORT
    cluster.kubectl("delete", "healthdemo", name, "-n", namespace)
