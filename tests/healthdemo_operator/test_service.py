"""The Service in front of a HealthDemo's Pods, against the real kube-apiserver: created by the
operator (as its ServiceAccount, deploy/'s RBAC), selecting every replica's Pod by its owner's
UID, owned by the HealthDemo; and a Service of someone else's holding the name is said, while
the Pods still run."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from healthdemo_operator import podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ..conftest import eventually
from .test_operator import apply, events_about, read_pod, sample
from .test_podspec import healthdemo

pytestmark = pytest.mark.controlplane


def read_service(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = core.api_client.sanitize_for_serialization(
            core.read_namespaced_service(name, namespace)
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def test_the_service_selects_every_pod_of_its_healthdemo_by_owner() -> None:
    service = podspec.build_service(HealthDemo.of(healthdemo({"replicas": 2})))
    assert service["metadata"]["name"] == "demo-webapp"
    assert service["spec"]["selector"] == {"demo.example.com/healthdemo-uid": "uid-1"}
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert service["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    for replica in (0, 1):
        pod = podspec.build_pod(HealthDemo.of(healthdemo({"replicas": 2})), replica)
        labels = pod["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()


def test_the_operator_makes_the_service_and_makes_it_again(
    operator: LocalOperator, installed: ControlPlane, core: client.CoreV1Api, namespace: str
) -> None:
    apply(installed, sample(namespace, replicas=2))
    service = eventually(lambda: read_service(core, namespace, "demo-webapp"), what="Service")
    owner = service["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("HealthDemo", "demo")
    assert service["spec"]["ports"][0]["port"] == 80
    for name in ("demo-webapp", "demo-webapp-1"):
        pod = eventually(partial(read_pod, core, namespace, name), what=name)
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    # Deleted by someone: the watch shows it gone, and the operator makes it again.
    uid = service["metadata"]["uid"]
    core.delete_namespaced_service("demo-webapp", namespace)
    eventually(
        lambda: (s := read_service(core, namespace, "demo-webapp")) and s["metadata"]["uid"] != uid,
        what="the Service made again",
    )


def test_someone_elses_service_with_the_name_is_said_and_the_pods_still_run(
    operator: LocalOperator, installed: ControlPlane, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "demo-webapp"},
        "spec": {"selector": {"app": "other"}, "ports": [{"port": 8080}]},
    })  # fmt: skip
    apply(installed, sample(namespace))
    eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    told = eventually(
        lambda: [
            e for e in events_about(core, namespace, "demo") if e.reason == "ServiceNameTaken"
        ],
        what="the ServiceNameTaken Event",
    )
    assert told[0].type == "Warning"
    assert "not owned by this HealthDemo" in told[0].message
    kept = read_service(core, namespace, "demo-webapp")
    assert kept is not None and kept["spec"]["selector"] == {"app": "other"}  # left alone
