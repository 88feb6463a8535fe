"""The Pod built from a HealthDemo, and the checks the schema cannot make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_operator import podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.observations import pod_view

from webapp import config

ROOT = Path(__file__).resolve().parents[2]


def healthdemo(spec: dict[str, Any] | None = None, name: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "demo.example.com/v1",
        "kind": "HealthDemo",
        "metadata": {"name": name, "namespace": "team-a", "uid": "uid-1", "generation": 3},
        "spec": spec or {},
    }


def build(spec: dict[str, Any] | None = None, name: str = "demo") -> dict[str, Any]:
    """The Pod for `healthdemo(spec, name)`, as the controller builds it."""
    return podspec.build_pod(HealthDemo.of(healthdemo(spec, name)))


def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def test_defaults_give_the_seed_pod() -> None:
    pod = build()
    assert pod["metadata"]["name"] == "demo-webapp"
    assert pod["metadata"]["namespace"] == "team-a"
    c = container(pod)
    assert c["image"] == "flask-webapp:latest"
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["ports"] == [
        {"name": "http", "containerPort": 5000, "protocol": "TCP"},
        {"name": "tcp-live", "containerPort": 5001, "protocol": "TCP"},
        {"name": "tcp-ready", "containerPort": 5002, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 5003, "protocol": "TCP"},
    ]
    assert c["resources"] == {
        "requests": {"cpu": "10m", "memory": "48Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 5000, "scheme": "HTTP"},
        "initialDelaySeconds": 0,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
        "successThreshold": 1,
    }
    assert "readinessProbe" not in c
    assert "startupProbe" not in c


def test_probes_are_exactly_as_asked() -> None:
    pod = build(
        {
            "port": 8080,
            "livenessProbe": {
                "path": "/live",
                "initialDelaySeconds": 2,
                "periodSeconds": 1,
                "timeoutSeconds": 2,
                "failureThreshold": 5,
                "terminationGracePeriodSeconds": 3,
            },
            "readinessProbe": {"periodSeconds": 2, "successThreshold": 2},
        }
    )
    c = container(pod)
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/live", "port": 8080, "scheme": "HTTP"},
        "initialDelaySeconds": 2,
        "periodSeconds": 1,
        "timeoutSeconds": 2,
        "failureThreshold": 5,
        "successThreshold": 1,
        "terminationGracePeriodSeconds": 3,
    }
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTP"},
        "initialDelaySeconds": 0,
        "periodSeconds": 2,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
        "successThreshold": 2,
    }
    assert c["env"][0] == {"name": "PORT", "value": "8080"}
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["WEBAPP_LIVENESS_TIMEOUT_SECONDS"] == "2"  # a slower answer fails for the kubelet
    assert c["ports"][0]["containerPort"] == 8080


def test_pod_is_owned_labelled_and_remembers_its_generation() -> None:
    meta = build()["metadata"]
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "demo.example.com/v1",
            "kind": "HealthDemo",
            "name": "demo",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]
    assert meta["labels"] == {
        "app.kubernetes.io/name": "flask-webapp",
        "app.kubernetes.io/managed-by": "healthdemo-operator",
        "demo.example.com/healthdemo-uid": "uid-1",
        "demo.example.com/replica": "0",
    }
    assert meta["annotations"]["demo.example.com/generation"] == "3"
    assert pod_view(build()).owner_uid == "uid-1"
    assert pod_view(build()).generation == 3


def test_pod_passes_pod_security_restricted() -> None:
    pod = build()
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container(pod)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "host" not in container(pod)["livenessProbe"]["httpGet"]  # forbidden since 1.34
    assert not any(key.startswith("host") for key in pod["spec"])


@pytest.mark.parametrize(
    "image",
    [
        "flask-webapp:latest",
        "flask-webapp",
        "localhost/flask-webapp:latest",
        "registry.example.com:5000/team/flask-webapp:v1.2.3",
        "ghcr.io/org/app@sha256:" + "0" * 64,
        "docker.io/library/python:3.11-slim",
        "[::1]:5000/app:dev",
    ],
)
def test_valid_images(image: str) -> None:
    assert podspec.validate("demo", podspec.effective({"image": image})) == []


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("Flask-Webapp:latest", "repository names must be lowercase"),
        ("flask webapp", "not a valid image reference"),
        ("flask-webapp:", "not a valid image reference"),
        ("flask-webapp::1", "not a valid image reference"),
        ("/flask-webapp", "not a valid image reference"),
        ("a" * 300, "not a valid image reference"),
    ],
)
def test_invalid_images(image: str, fragment: str) -> None:
    (problem,) = podspec.validate("demo", podspec.effective({"image": image}))
    assert fragment in problem


def test_a_name_the_service_cannot_have() -> None:
    spec = podspec.effective({"image": "flask-webapp"})
    (problem,) = podspec.validate("a" * 57, spec)
    assert problem.startswith("the Service name aaaa")
    assert "use a HealthDemo name of at most 56 characters, without dots" in problem
    assert podspec.validate("a" * 56, spec) == []
    (dotted,) = podspec.validate("demo.v1", spec)
    assert "is not a DNS label" in dotted


def test_probe_rules_the_schema_also_enforces() -> None:
    problems = podspec.validate(
        "demo",
        podspec.effective(
            {
                "image": "flask-webapp",
                "livenessProbe": {"successThreshold": 2},
                "readinessProbe": {"terminationGracePeriodSeconds": 5},
            }
        ),
    )
    assert problems == [
        "spec.livenessProbe.successThreshold must be 1 (a Kubernetes rule)",
        "spec.readinessProbe.terminationGracePeriodSeconds is not allowed: Kubernetes "
        "rejects it on readiness probes",
    ]


def test_crd_defaults_match_the_operator_defaults() -> None:
    """The API server applies the CRD's defaults; the operator's must be the same."""
    spec = crd_spec()
    props = spec["properties"]
    for key, value in podspec.DEFAULTS.items():
        assert props[key]["default"] == value, key
    for name in podspec.PROBES:
        probe = props[name]["properties"]
        for key, value in podspec.TIMING_DEFAULTS.items():
            assert probe[key]["default"] == value, (name, key)
        # No default handler in the schema: a defaulted path would clash with tcpSocket & co.
        assert "default" not in probe["path"]
        assert probe["grpc"]["properties"]["port"]["default"] == podspec.GRPC_PORT
        assert probe["grpc"]["properties"]["service"]["enum"] == list(podspec.GRPC_SERVICES)


def crd_spec() -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / "healthdemo.yaml").read_text())
    spec: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    return spec


def test_the_webapp_serves_the_ports_the_operator_probes() -> None:
    assert config.DEFAULTS["TCP_LIVENESS_PORT"] == podspec.TCP_LIVENESS_PORT
    assert config.DEFAULTS["TCP_READINESS_PORT"] == podspec.TCP_READINESS_PORT
    assert config.DEFAULTS["GRPC_PORT"] == podspec.GRPC_PORT


@pytest.mark.parametrize(
    ("given", "built"),
    [
        ({"path": "/live"}, {"httpGet": {"path": "/live", "port": 5000, "scheme": "HTTP"}}),
        ({"httpGet": {"path": "/x"}}, {"httpGet": {"path": "/x", "port": 5000, "scheme": "HTTP"}}),
        ({"tcpSocket": {"port": 5001}}, {"tcpSocket": {"port": 5001}}),
        (
            {"exec": {"command": ["python", "-m", "webapp.check", "liveness"]}},
            {"exec": {"command": ["python", "-m", "webapp.check", "liveness"]}},
        ),
        ({"grpc": {"service": "liveness"}}, {"grpc": {"port": 5003, "service": "liveness"}}),
    ],
)
def test_each_handler_is_passed_as_kubernetes_names_it(
    given: dict[str, Any], built: dict[str, Any]
) -> None:
    for name in podspec.PROBES:
        probe = container(build({name: given}))[name]
        assert {k: v for k, v in probe.items() if k in podspec.HANDLERS} == built
        assert podspec.validate("demo", podspec.effective({name: given})) == []


def test_startup_probe_defaults_and_delay() -> None:
    c = container(build({"startupProbe": {}, "startupDelaySeconds": 20}))
    assert c["startupProbe"] == {
        "httpGet": {"path": "/startupz", "port": 5000, "scheme": "HTTP"},
        "initialDelaySeconds": 0,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
        "successThreshold": 1,
    }
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["WEBAPP_STARTUP_DELAY_SECONDS"] == "20"


@pytest.mark.parametrize(("given", "env"), [({}, "enabled"), ({"faults": "disabled"}, "disabled")])
def test_faults_switch_reaches_the_webapp(given: dict[str, Any], env: str) -> None:
    """spec.faults: disabled makes the webapp answer 403 on /start-failing & co."""
    c = container(build(given))
    assert {e["name"]: e["value"] for e in c["env"]}["WEBAPP_FAULTS"] == env
    assert env in config.FAULT_MODES  # a mode the webapp knows


def test_resources_pass_through() -> None:
    resources = {"requests": {"memory": "32Mi"}, "limits": {"memory": "64Mi", "cpu": "500m"}}
    c = container(build({"resources": resources}))
    assert c["resources"] == resources


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            {"livenessProbe": {"path": "/x", "tcpSocket": {"port": 5001}}},
            "spec.livenessProbe must have exactly one handler: httpGet, tcpSocket, exec or grpc "
            "(path is shorthand for httpGet.path), not path and tcpSocket",
        ),
        (
            {"startupProbe": {"httpGet": {}, "exec": {"command": ["true"]}}},
            "not httpGet and exec",
        ),
        ({"startupProbe": {"successThreshold": 2}}, "spec.startupProbe.successThreshold must be 1"),
        (
            {"readinessProbe": {"tcpSocket": {"port": 8080}}},
            "spec.readinessProbe.tcpSocket.port 8080 is not served by the webapp",
        ),
        ({"livenessProbe": {"httpGet": {"port": 8080}}}, "must be spec.port (5000)"),
        ({"livenessProbe": {"grpc": {"port": 9090}}}, "grpc.port must be 5003"),
        ({"livenessProbe": {"grpc": {"service": "db"}}}, "grpc.service 'db' is unknown"),
        ({"port": 5002}, "spec.port 5002 is taken"),
    ],
)
def test_bad_probes_are_reported(spec: dict[str, Any], fragment: str) -> None:
    problems = podspec.validate("demo", podspec.effective({"image": "flask-webapp", **spec}))
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    "example", sorted((ROOT / "deploy" / "examples").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_example_is_valid(example: Path) -> None:
    body = yaml.safe_load(example.read_text())
    assert podspec.validate(body["metadata"]["name"], podspec.effective(body["spec"])) == []
    assert example.read_text().startswith("# Lesson: ")  # says what to do and what to watch


def test_resize_policy_and_the_pods_shape() -> None:
    policy = [{"resourceName": "memory", "restartPolicy": "RestartContainer"}]
    pod = build({"resizePolicy": policy})
    assert container(pod)["resizePolicy"] == policy
    shape = pod["metadata"]["annotations"]["demo.example.com/shape"]
    bigger = build({"resizePolicy": policy, "resources": {"limits": {"memory": "320Mi"}}})
    assert bigger["metadata"]["annotations"]["demo.example.com/shape"] == shape
    other = build({"resizePolicy": policy, "livenessProbe": {"periodSeconds": 5}})
    assert other["metadata"]["annotations"]["demo.example.com/shape"] != shape
    never = podspec.effective({"resizePolicy": policy, "restartPolicy": "Never"})
    (problem,) = podspec.validate("demo", never)
    assert "spec.resizePolicy RestartContainer (memory) needs a restartPolicy other than" in problem


def test_a_prestop_sleep_is_the_webapps_lifecycle_and_part_of_the_pods_shape() -> None:
    assert "lifecycle" not in container(build())
    slept = build({"preStopSleepSeconds": 5})
    assert container(slept)["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    # Kubernetes cannot change a running Pod's lifecycle: a new sleep is a new Pod.
    assert podspec.digest(slept) != podspec.digest(build())
