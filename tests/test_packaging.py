"""The image and seed-manifest contract that the kubelet and Pod Security rely on."""

from __future__ import annotations

import json
import re
import tomllib

import yaml
from healthdemo_operator.settings import Settings
from healthdemo_sandbox.paths import ROOT

from webapp import config


def dockerfile_instructions(name: str) -> dict[str, list[str]]:
    text = (ROOT / name).read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.setdefault(keyword.upper(), []).append(rest.strip())
    return found


def test_webapp_dockerfile_runs_non_root_exec_form_with_healthcheck() -> None:
    found = dockerfile_instructions("Dockerfile.webapp")
    assert found["FROM"] == ["python:3.11-slim"]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", found["USER"][-1]), "USER must be a numeric UID"
    # Every port the webapp serves by default: HTTP, the TCP check ports, gRPC health.
    checks = ("TCP_LIVENESS_PORT", "TCP_READINESS_PORT", "GRPC_PORT")
    served = [config.DEFAULT_PORT, *(config.DEFAULTS[k] for k in checks)]
    assert found["EXPOSE"] == [" ".join(str(port) for port in served)]
    assert json.loads(found["CMD"][-1]) == ["python", "-m", "webapp"]  # exec form is JSON
    healthcheck = found["HEALTHCHECK"][-1]
    assert "/healthz" in healthcheck
    assert "CMD [" in healthcheck


def test_seed_pod_probes_healthz_and_passes_restricted() -> None:
    pod = yaml.safe_load((ROOT / "deploy/pod-healthcheck.yaml").read_text())
    assert pod["metadata"]["name"] == "flask-webapp-healthcheck-test"
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 5000}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_the_pages_files_are_package_data() -> None:
    """The image installs the package (not the source tree): a file left out of package-data
    would be missing there, and the page would load without its script."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["webapp"]
    package = ROOT / "webapp"
    files = [p for folder in ("static", "templates") for p in (package / folder).rglob("*")]
    assert files
    for path in files:
        relative = path.relative_to(package)
        assert any(relative.match(pattern) for pattern in patterns), f"{relative} not packaged"


def test_the_operator_metrics_port_is_declared_where_it_is_served() -> None:
    """HEALTHDEMO_METRICS_PORT's default: exposed by the image, named by the Deployment, scraped
    through the Service; and the operator image installs the client it serves them with."""
    port = Settings().metrics_port
    assert str(port) in dockerfile_instructions("Dockerfile.operator")["EXPOSE"][-1].split()
    deployment = yaml.safe_load((ROOT / "deploy/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "metrics", "containerPort": port} in container["ports"]
    service = yaml.safe_load((ROOT / "deploy/service.yaml").read_text())
    assert service["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert service["spec"]["ports"] == [{"name": "metrics", "port": port, "targetPort": "metrics"}]
    kustomization = yaml.safe_load((ROOT / "deploy/kustomization.yaml").read_text())
    assert "service.yaml" in kustomization["resources"]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith("prometheus-client") for dep in extras["operator"])
