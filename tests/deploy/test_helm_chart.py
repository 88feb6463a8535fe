"""charts/healthdemo renders what deploy/ does: `helm template` with the defaults against
`kubectl kustomize deploy/`, object by object, so the two cannot drift; each value changes what
it says and nothing else; `helm lint --strict` passes. Pure: no cluster, only the two binaries
(helm built by `python -m healthdemo_sandbox.helm build`, kubectl by `make kube-binaries`)."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from healthdemo_sandbox import binaries, helm

from ..conftest import REQUIRE_CONTROLPLANE, REQUIRE_NODE, ROOT

CHART = ROOT / "charts" / "healthdemo"
DEPLOY = ROOT / "deploy"
Key = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" when cluster-scoped), name


def unavailable(reason: str) -> NoReturn:
    """Skip — or fail where CI requires the real control plane or node (the chart is theirs)."""
    required = [var for var in (REQUIRE_NODE, REQUIRE_CONTROLPLANE) if os.environ.get(var) == "1"]
    if required:
        pytest.fail(f"{reason} ({required[0]}=1: this must run here, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def helm_binary() -> Path:
    try:
        return helm.ensure(allow_build=False)
    except helm.MissingHelm as exc:
        unavailable(f"no helm: {exc}")


@pytest.fixture(scope="module")
def kubectl_binary() -> Path:
    found = binaries.find("kubectl")
    if found is None:
        unavailable(f"no kubectl (looked in {binaries.cache_dir()}): `make kube-binaries`")
    return found


@pytest.fixture(scope="module")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm's cache, config and data in a folder of the test's own: no user's repositories."""
    home = tmp_path_factory.mktemp("helm-home")
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result


def objects(stream: str) -> dict[Key, dict[str, Any]]:
    """A YAML stream as its objects by identity (key order and comments do not count)."""
    found: dict[Key, dict[str, Any]] = {}
    for document in yaml.safe_load_all(stream):
        if not document:
            continue
        meta = document["metadata"]
        key = (document["apiVersion"], document["kind"], meta.get("namespace", ""), meta["name"])
        assert key not in found, f"{key} twice"
        found[key] = document
    return found


@pytest.fixture
def template(helm_binary: Path, helm_home: dict[str, str]) -> Any:
    def render(*values: str, extra: tuple[str, ...] = ()) -> dict[Key, dict[str, Any]]:
        sets = [arg for value in values for arg in ("--set", value)]
        out = run(helm_binary, "template", "healthdemo", CHART, *sets, *extra, env=helm_home)
        return objects(out.stdout)

    return render


@pytest.fixture(scope="module")
def kustomized(kubectl_binary: Path) -> dict[Key, dict[str, Any]]:
    return objects(run(kubectl_binary, "kustomize", DEPLOY).stdout)


def by_kind(rendered: dict[Key, dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = (o for key, o in rendered.items() if key[1] == kind)
    return found


def container(rendered: dict[Key, dict[str, Any]]) -> dict[str, Any]:
    (found,) = by_kind(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = found
    return result


def test_the_defaults_render_exactly_what_kustomize_renders(
    template: Any, kustomized: dict[Key, dict[str, Any]]
) -> None:
    rendered = template()
    assert sorted(rendered) == sorted(kustomized)
    for key, expected in kustomized.items():
        assert rendered[key] == expected, key


def test_the_crds_are_the_repositorys(helm_binary: Path, helm_home: dict[str, str]) -> None:
    """charts/healthdemo/crds is a link to crds/: Helm installs the very same CRDs (once; it
    never upgrades them), and `helm template --include-crds` shows them."""
    assert (CHART / "crds").resolve() == ROOT / "crds"
    shown = objects(run(helm_binary, "show", "crds", CHART, env=helm_home).stdout)
    repository = objects("\n---\n".join(p.read_text() for p in sorted((ROOT / "crds").iterdir())))
    assert shown == repository
    assert {key[3] for key in shown} == {
        "healthdemos.demo.example.com",
        "clusterkopfpeerings.kopf.dev",
    }


def changed(
    before: dict[Key, dict[str, Any]], after: dict[Key, dict[str, Any]]
) -> dict[Key, dict[str, Any]]:
    """The objects of `after` that differ from `before` (same identities required)."""
    assert sorted(after) == sorted(before)
    return {key: after[key] for key in after if after[key] != before[key]}


def test_replicas(template: Any, kustomized: dict[Key, dict[str, Any]]) -> None:
    rendered = template("replicas=3")
    deployment = by_kind(rendered, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    expected = copy.deepcopy(by_kind(kustomized, "Deployment"))
    expected["spec"]["replicas"] = 3
    assert deployment == expected
    assert list(changed(kustomized, rendered)) == [
        ("apps/v1", "Deployment", "healthdemo-system", "healthdemo-operator")
    ]


def test_image(template: Any, kustomized: dict[Key, dict[str, Any]]) -> None:
    rendered = template(
        "image.repository=registry.example/healthdemo-operator",
        "image.tag=v1.2.3",
        "image.pullPolicy=Always",
    )
    assert container(rendered)["image"] == "registry.example/healthdemo-operator:v1.2.3"
    assert container(rendered)["imagePullPolicy"] == "Always"
    assert len(changed(kustomized, rendered)) == 1
    assert container(template("image.pullPolicy=Never"))["image"] == "healthdemo-operator:latest"


def test_metrics_port(template: Any, kustomized: dict[Key, dict[str, Any]]) -> None:
    """The container's port, the Service's port and annotation, and the operator told (it
    listens on 9090 unless HEALTHDEMO_METRICS_PORT says otherwise)."""
    rendered = template("metrics.port=9191")
    ports = {p["name"]: p["containerPort"] for p in container(rendered)["ports"]}
    assert ports == {"health": 8080, "metrics": 9191}
    env = {e["name"]: e.get("value") for e in container(rendered)["env"]}
    assert env == {"POD_ID": None, "HEALTHDEMO_METRICS_PORT": "9191"}
    service = by_kind(rendered, "Service")
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "9191"
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9191, "targetPort": "metrics"}]
    assert {key[1] for key in changed(kustomized, rendered)} == {"Deployment", "Service"}
    # The default is the operator's own: nothing to tell it.
    assert [e["name"] for e in container(template("metrics.port=9090"))["env"]] == ["POD_ID"]


def test_kubelet_insecure_tls(template: Any, kustomized: dict[Key, dict[str, Any]]) -> None:
    rendered = template("kubelet.insecureTLS=true")
    assert container(rendered)["env"][1:] == [
        {"name": "HEALTHDEMO_KUBELET_INSECURE_TLS", "value": "true"}
    ]
    assert len(changed(kustomized, rendered)) == 1


def test_the_servicemonitor_is_the_components(
    template: Any, kubectl_binary: Path, tmp_path: Path
) -> None:
    """serviceMonitor.enabled renders what deploy/ with components/servicemonitor renders."""
    relative = Path(os.path.relpath(ROOT, tmp_path))  # kustomize takes no absolute paths
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [str(relative / "deploy")],
                "components": [str(relative / "deploy" / "components" / "servicemonitor")],
            }
        )
    )
    with_component = objects(run(kubectl_binary, "kustomize", tmp_path).stdout)
    assert template("serviceMonitor.enabled=true") == with_component
    labelled = by_kind(
        template("serviceMonitor.enabled=true", "serviceMonitor.labels.release=prometheus"),
        "ServiceMonitor",
    )
    assert labelled["metadata"]["labels"]["release"] == "prometheus"
    assert not any(key[1] == "ServiceMonitor" for key in template())


def test_another_namespace(template: Any, kustomized: dict[Key, dict[str, Any]]) -> None:
    rendered = template("namespace.name=ops")
    assert by_kind(rendered, "Namespace")["metadata"]["name"] == "ops"
    namespaced = [o for o in rendered.values() if "namespace" in o["metadata"]]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"ops"}
    assert len(namespaced) == len([k for k in kustomized if k[2]])
    (subject,) = by_kind(rendered, "ClusterRoleBinding")["subjects"]
    assert subject["namespace"] == "ops"
    without = template("namespace.create=false")
    assert sorted(without) == sorted(k for k in kustomized if k[1] != "Namespace")


@pytest.mark.parametrize(
    "value", ["replicas=-1", "metrics.port=70000", "metrics.port=8080", "image.pullPolicy=Often"]
)
def test_the_schema_refuses_bad_values(
    helm_binary: Path, helm_home: dict[str, str], value: str
) -> None:
    result = subprocess.run(
        [str(helm_binary), "template", "healthdemo", str(CHART), "--set", value],
        capture_output=True,
        text=True,
        env=helm_home,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr


def test_helm_lint_passes(helm_binary: Path, helm_home: dict[str, str]) -> None:
    result = run(helm_binary, "lint", "--strict", CHART, env=helm_home)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
