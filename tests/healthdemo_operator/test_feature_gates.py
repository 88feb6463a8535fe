"""A lesson that needs a feature the cluster lacks, on real API servers: one with the release's
defaults (restart rules on), and one started with `--feature-gates=ContainerRestartRules=false`
(and restart-all, which depends on it), which silently drops the rules from a Pod it stores.
The operator must ask first, create no Pod that would run without its rules, and say which
feature and release the lesson needs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_sandbox import bringup
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import ROOT, eventually
from .test_operator import events_about, read_pod, status_of

pytestmark = pytest.mark.controlplane

EXAMPLE = ROOT / "deploy" / "examples" / "restart-rules.yaml"
NAME = "restart-rules"


def lesson(namespace: str) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"]["namespace"] = namespace
    return body


@pytest.fixture(scope="module")
def without_restart_rules(controlplane: ControlPlane) -> Iterator[ControlPlane]:
    """A second control plane, of the same release, whose API server lacks the feature."""
    # Restart-all (on by default from 1.36) depends on restart rules: both go, as on a cluster
    # that has neither.
    gates = {"ContainerRestartRules": False, "RestartAllContainersOnContainerExits": False}
    plane = bringup.start_plane(controlplane.binaries, feature_gates=gates)
    try:
        bringup.install(plane)
        yield plane
    finally:
        plane.stop()


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def test_the_rules_reach_the_pod_where_the_cluster_has_them(
    operator: LocalOperator, installed: ControlPlane, core: client.CoreV1Api, namespace: str
) -> None:
    installed.kubectl("apply", "-f", "-", input=json.dumps(lesson(namespace)))
    pod = eventually(lambda: read_pod(core, namespace, f"{NAME}-webapp"), what="the Pod")
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["restartPolicy"] == "Never"
    assert container["restartPolicyRules"] == [
        {"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}
    ]
    assert status_of(installed, namespace, NAME).get("phase") != "Invalid"


def test_a_cluster_without_restart_rules_runs_no_pod_and_says_what_it_needs(
    without_restart_rules: ControlPlane, tmp_path: Path
) -> None:
    plane = without_restart_rules
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", namespace)
    operator = bringup.start_local_operator(plane, tmp_path / "operator.log")
    try:
        core = client.CoreV1Api(plane.api_client())
        plane.kubectl("apply", "-f", "-", input=json.dumps(lesson(namespace)))
        status = eventually(
            lambda: (s := status_of(plane, namespace, NAME)).get("phase") == "Invalid" and s,
            what="phase Invalid",
        )
        ready = conditions(status)["Ready"]
        assert (ready["status"], ready["reason"]) == ("False", "FeatureUnavailable")
        assert ready["message"].startswith(
            "spec.restartPolicyRules needs the feature gate ContainerRestartRules (beta and on "
            "by default since Kubernetes 1.35)"
        )
        assert read_pod(core, namespace, f"{NAME}-webapp") is None  # asked first: no Pod
        told = eventually(
            lambda: [e for e in events_about(core, namespace, NAME)
                     if e.reason == "FeatureUnavailable"],
            what="the Warning Event",
        )  # fmt: skip
        assert told[0].type == "Warning" and told[0].message == ready["message"]

        # Without the rules (a new generation), the same HealthDemo gets its Pod.
        plane.kubectl("patch", "healthdemo", NAME, "-n", namespace, "--type=json",
                      "-p", '[{"op": "remove", "path": "/spec/restartPolicyRules"}]')  # fmt: skip
        pod = eventually(lambda: read_pod(core, namespace, f"{NAME}-webapp"), what="the Pod")
        (container,) = pod["spec"]["containers"]
        assert "restartPolicyRules" not in container
        assert pod["spec"]["restartPolicy"] == "Never"
        eventually(
            lambda: status_of(plane, namespace, NAME).get("phase") != "Invalid",
            what="no longer Invalid",
        )
    finally:
        operator.stop()
    assert operator.forbidden() == [], "the operator was refused by RBAC"
