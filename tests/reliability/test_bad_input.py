"""Bad input, kind by kind (the table in docs/resource.md): each is rejected by the API server
with its message, or accepted and reported as Invalid with a clear condition. The operator never
crash-loops and other HealthDemos keep working."""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import eventually
from ..healthdemo_operator.test_operator import apply, read_pod, sample, status

pytestmark = pytest.mark.controlplane

GROUP, VERSION = "demo.example.com", "v1"

# (what, spec, the API server's message) — all rejected at the door.
REJECTED = [
    ("zero period", {"livenessProbe": {"periodSeconds": 0}},
     "spec.livenessProbe.periodSeconds in body should be greater than or equal to 1"),
    ("negative delay", {"livenessProbe": {"initialDelaySeconds": -5}},
     "spec.livenessProbe.initialDelaySeconds: Invalid value: -5"),
    ("wrong type", {"livenessProbe": {"timeoutSeconds": "fast"}},
     "spec.livenessProbe.timeoutSeconds in body must be of type integer"),
    ("successThreshold on liveness", {"livenessProbe": {"successThreshold": 2}},
     "successThreshold must be 1 for a liveness probe"),
    ("grace period on readiness", {"readinessProbe": {"terminationGracePeriodSeconds": 5}},
     "terminationGracePeriodSeconds is not allowed on a readiness probe"),
    ("port 0", {"port": 0}, "spec.port: Invalid value: 0"),
    ("port 70000", {"port": 70000}, "spec.port: Invalid value: 70000"),
    ("image with spaces", {"image": "flask webapp"}, "spec.image: Invalid value"),
    ("10 kB path", {"livenessProbe": {"path": "/" + "x" * 10240}},
     "spec.livenessProbe.path: Too long: may not be more than 2048 bytes"),
    ("relative path", {"livenessProbe": {"path": "healthz"}},
     "spec.livenessProbe.path: Invalid value"),
    ("unknown pull policy", {"imagePullPolicy": "Sometimes"},
     'spec.imagePullPolicy: Unsupported value: "Sometimes"'),
    ("unknown faults mode", {"faults": "token"}, 'spec.faults: Unsupported value: "token"'),
    ("unknown field", {"colour": "blue"}, 'unknown field "spec.colour"'),
    ("two handlers", {"livenessProbe": {"httpGet": {}, "tcpSocket": {"port": 5001}}},
     # 1.34 wrote `Invalid value: "object": ...`; 1.35+ leave out the value of a CEL rule's object
     "spec.livenessProbe: Invalid value: give exactly one handler: httpGet, tcpSocket, exec or "
     "grpc"),
    ("path and a handler", {"startupProbe": {"path": "/x", "exec": {"command": ["true"]}}},
     "path is shorthand for httpGet.path and cannot be combined with them"),
    ("TCP port not served", {"readinessProbe": {"tcpSocket": {"port": 8080}}},
     "readinessProbe.tcpSocket.port must be one the webapp serves: 5001 (open while live)"),
    ("HTTP port not spec.port", {"livenessProbe": {"httpGet": {"port": 8080}}},
     "livenessProbe.httpGet.port must be spec.port"),
    ("gRPC port", {"livenessProbe": {"grpc": {"port": 9090}}},
     "spec.livenessProbe.grpc.port: Invalid value: 9090"),
    ("gRPC service", {"livenessProbe": {"grpc": {"service": "db"}}},
     'spec.livenessProbe.grpc.service: Unsupported value: "db"'),
    ("exec without a command", {"livenessProbe": {"exec": {"command": []}}},
     "spec.livenessProbe.exec.command: Invalid value: 0"),
    ("port of a check", {"port": 5001}, "spec.port may not be 5001, 5002 or 5003"),
    ("successThreshold on startup", {"startupProbe": {"successThreshold": 3}},
     "successThreshold must be 1 for a startup probe"),
    ("negative startup delay", {"startupDelaySeconds": -1},
     "spec.startupDelaySeconds: Invalid value: -1"),
    ("bad quantity", {"resources": {"limits": {"memory": "lots"}}},
     "spec.resources.limits.memory: Invalid value: \"lots\""),
]  # fmt: skip


def body(namespace: str, name: str, spec: dict[str, Any] | None) -> str:
    doc: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HealthDemo",
        "metadata": {"name": name, "namespace": namespace},
    }
    if spec is not None:
        doc["spec"] = spec
    return json.dumps(doc)


@pytest.mark.parametrize(("what", "spec", "message"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected_by_the_api_server(
    installed: ControlPlane, namespace: str, what: str, spec: dict[str, Any], message: str
) -> None:
    result = installed.kubectl("apply", "-f", "-", input=body(namespace, "bad", spec), check=False)
    assert result.returncode != 0, f"{what} was accepted"
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["a" * 57, "demo.v1"])
def test_a_name_the_service_cannot_have_is_rejected(
    installed: ControlPlane, namespace: str, name: str
) -> None:
    result = installed.kubectl("apply", "-f", "-", input=body(namespace, name, {}), check=False)
    assert result.returncode != 0
    assert "metadata.name may have at most 56 characters" in result.stderr


def test_missing_spec_means_all_defaults(
    operator: LocalOperator, installed: ControlPlane, namespace: str
) -> None:
    installed.kubectl("apply", "-f", "-", input=body(namespace, "bare", None))
    core = client.CoreV1Api(installed.api_client())
    pod = eventually(lambda: read_pod(core, namespace, "bare-webapp"), what="the Pod")
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "flask-webapp:latest"
    assert container["livenessProbe"]["periodSeconds"] == 10
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_squatter_pod_and_racing_twins(
    operator: LocalOperator, installed: ControlPlane, namespace: str
) -> None:
    """A foreign Pod holding our Pod's name is never touched: Invalid until it goes. Two
    HealthDemos created at the same instant each get their own Pod."""
    core = client.CoreV1Api(installed.api_client())
    custom = client.CustomObjectsApi(installed.api_client())
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "squat-webapp", "labels": {"owner": "someone-else"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
        },
    )
    apply(installed, sample(namespace, name="squat"))
    taken = eventually(
        lambda: (s := status(custom, namespace, "squat")).get("phase") == "Invalid" and s,
        what="Invalid (PodNameTaken)",
    )
    ready = {c["type"]: c for c in taken["conditions"]}["Ready"]
    assert ready["reason"] == "PodNameTaken"
    assert "not owned by this HealthDemo" in ready["message"]
    squatter = read_pod(core, namespace, "squat-webapp")
    assert squatter is not None and "ownerReferences" not in squatter["metadata"]

    twins = [sample(namespace, name=f"twin-{n}") for n in "ab"]
    threads = [threading.Thread(target=apply, args=(installed, t)) for t in twins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for twin in ("twin-a", "twin-b"):
        pod = eventually(functools.partial(read_pod, core, namespace, f"{twin}-webapp"), what=twin)
        assert pod["metadata"]["ownerReferences"][0]["name"] == twin

    core.delete_namespaced_pod("squat-webapp", namespace, grace_period_seconds=0)
    mine = eventually(
        lambda: (
            (p := read_pod(core, namespace, "squat-webapp"))
            and "ownerReferences" in p["metadata"]
            and p
        ),
        timeout=60,
        what="our Pod once the squatter left",
    )
    assert mine["metadata"]["ownerReferences"][0]["name"] == "squat"
    eventually(lambda: status(custom, namespace, "squat").get("phase") == "Pending", what="Pending")
    assert operator.proc is not None and operator.proc.poll() is None  # it never crashed


EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "deploy" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_is_accepted_by_the_api_server(
    installed: ControlPlane, namespace: str, example: Path
) -> None:
    result = installed.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", str(example), check=False
    )
    assert result.returncode == 0, result.stderr
