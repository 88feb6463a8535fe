"""The operator against the real kube-apiserver, as its ServiceAccount with deploy/'s RBAC.

There is no kubelet here: the test plays it through the API (Pod status, aggregated Events).
The real node, with a real kubelet, is tested in tests/node/.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.kubeletstandin import KubeletStandIn
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from ..conftest import ROOT, eventually
from .kubelet_actor import KILLING, LIVENESS_500, KubeletActor

pytestmark = pytest.mark.controlplane

GROUP, VERSION, PLURAL = "demo.example.com", "v1", "healthdemos"


def sample(namespace: str, name: str = "demo", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "demo-cr.yaml").read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"].update(spec)
    return body


def apply(cp: ControlPlane, body: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=json.dumps(body))


def status(custom: client.CustomObjectsApi, namespace: str, name: str = "demo") -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    result: dict[str, Any] = obj.get("status") or {}
    return result


def read_pod(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        pod: dict[str, Any] = core.api_client.sanitize_for_serialization(
            core.read_namespaced_pod(name, namespace)
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return pod


def events_about(core: client.CoreV1Api, namespace: str, name: str) -> list[Any]:
    selector = f"involvedObject.kind=HealthDemo,involvedObject.name={name}"
    return list(core.list_namespaced_event(namespace, field_selector=selector).items)


def test_sample_cr_gets_its_pod_with_the_requested_probe(
    operator: LocalOperator, installed: ControlPlane, core: client.CoreV1Api, namespace: str
) -> None:
    installed.kubectl("apply", "-n", namespace, "-f", str(ROOT / "deploy" / "demo-cr.yaml"))
    pod = eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    (container,) = pod["spec"]["containers"]
    probe = container["livenessProbe"]
    assert probe.pop("initialDelaySeconds", 0) == 0  # the API server omits a zero
    assert probe == {
        "httpGet": {"path": "/healthz", "port": 5000, "scheme": "HTTP"},
        "periodSeconds": 2,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
        "successThreshold": 1,
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "HealthDemo"
    assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "healthdemo-operator"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    pending = eventually(lambda: status_of(installed, namespace).get("phase"), what="a phase")
    assert pending == "Pending"


def start_demo(
    cp: ControlPlane, core: client.CoreV1Api, namespace: str, **spec: Any
) -> KubeletActor:
    """Apply the sample HealthDemo, wait for its Pod, and play that Pod's kubelet."""
    apply(cp, sample(namespace, **spec))
    eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    return KubeletActor(core, namespace, "demo-webapp")


def status_of(cp: ControlPlane, namespace: str, name: str = "demo") -> dict[str, Any]:
    return status(client.CustomObjectsApi(cp.api_client()), namespace, name)


def test_the_whole_self_healing_story_is_recorded(
    operator: LocalOperator,
    installed: ControlPlane,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    kubelet = start_demo(installed, core, namespace)
    kubelet.run_container()
    eventually(lambda: status(custom, namespace).get("phase") == "Running", what="Running")

    # /start-failing: the kubelet reports failures; the repeats aggregate into one Event.
    unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
    eventually(lambda: status(custom, namespace).get("phase") == "Failing", what="Failing")
    kubelet.aggregate(unhealthy, 3)
    eventually(lambda: status(custom, namespace).get("probeFailures") == 3, what="3 failures")

    # At the threshold: Killing, then the restarted container.
    kubelet.event("Killing", KILLING, event_type="Normal")
    ended = kubelet.terminated(exit_code=0, reason="Completed")
    kubelet.run_container(restarts=1, last_terminated=ended)
    recorded = eventually(
        lambda: (
            (s := status(custom, namespace)).get("restarts") == 1
            and s["history"][0].get("recoverySeconds") is not None
            and s
        ),
        what="the restart recorded",
    )
    assert recorded["lastRestartReason"] == "LivenessProbe"
    assert recorded["probeFailures"] == 3
    assert recorded["phase"] == "Running"
    item = recorded["history"][0]
    assert item["reason"] == "LivenessProbe"
    assert item["probeFailures"] == 3
    assert item["exitCode"] == 0
    assert item["recoverySeconds"] >= 0
    conditions = {c["type"]: c["status"] for c in recorded["conditions"]}
    assert conditions == {"Ready": "True", "Healthy": "True", "CountsComplete": "True"}

    reasons = eventually(
        lambda: (
            {e.reason for e in events_about(core, namespace, "demo")} >= {"Restarted"}
            and {e.reason for e in events_about(core, namespace, "demo")}
        ),
        what="a Restarted Event on the HealthDemo",
    )
    assert "LivenessProbeFailing" in reasons

    table = installed.kubectl("get", "healthdemos", "-n", namespace).stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "POD",
        "READY",
        "PHASE",
        "RESTARTS",
        "PROBE-FAILURES",
        "LAST-RESTART",
        "AGE",
    ]
    row = table[1].split()
    assert row[:6] == ["demo", "demo-webapp", "1/1", "Running", "1", "3"]


def test_every_kubelet_event_about_the_pod_counts_against_its_budget(
    operator: LocalOperator,
    installed: ControlPlane,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    """The two server-filtered Event streams: about our container, and about the Pod as a whole
    (no fieldPath). The kubelet's spam filter counts both against one budget, so must we."""
    kubelet = start_demo(installed, core, namespace)
    kubelet.run_container()
    kubelet.event("Pulled", 'Container image "flask-webapp:latest" already present', "Normal")
    kubelet.event("SandboxChanged", "Pod sandbox changed, it will be killed and re-created.",
                  "Normal", field_path=None)  # fmt: skip
    kubelet.event("Unhealthy", LIVENESS_500)

    def ledger() -> dict[str, Any]:
        pod_uid = kubelet.pod()["metadata"]["uid"]
        entry: dict[str, Any] = status(custom, namespace)["accounting"]["pods"].get(pod_uid, {})
        return entry

    def liveness(entry: dict[str, Any]) -> dict[str, Any]:
        probes: dict[str, Any] = entry.get("containers", {}).get("webapp", {}).get("probes", {})
        found: dict[str, Any] = probes.get("Liveness", {})
        return found

    counted = eventually(
        lambda: (e := ledger()).get("normalEvents") == 2 and liveness(e).get("events") == 1 and e,
        what="both Normal Events counted, and the failure",
    )
    assert liveness(counted)["counted"] == 1


def counts_complete(recorded: dict[str, Any]) -> tuple[str, str]:
    """The CountsComplete condition's (status, reason)."""
    found = next(c for c in recorded.get("conditions") or () if c["type"] == "CountsComplete")
    return found["status"], found["reason"]


def two_failures_exact(
    kubelet: KubeletActor, custom: client.CustomObjectsApi, namespace: str
) -> str:
    """Two failed liveness probes on both sources, recorded as exact; the Event's name."""
    unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
    kubelet.liveness_failed(unhealthy, 2)
    eventually(
        lambda: (
            (s := status(custom, namespace)).get("probeFailures") == 2
            and counts_complete(s) == ("True", "Exact")
        ),
        what="2 failures, exact",
    )
    return unhealthy


def test_operator_killed_mid_episode_counts_exactly_once(
    operator: LocalOperator,
    installed: ControlPlane,
    core: client.CoreV1Api,
    namespace: str,
    kubelet_node: KubeletStandIn,
) -> None:
    """On both sources: the kubelet's Events and its probe counters (which go on past the
    Events' budget), across a SIGKILL and a clean restart of the operator."""
    custom = client.CustomObjectsApi(installed.api_client())
    kubelet = start_demo(installed, core, namespace)
    kubelet.place(kubelet_node)
    kubelet.run_container()
    unhealthy = two_failures_exact(kubelet, custom, namespace)

    operator.kill()
    # While it is down: the third failure, the kill and the restart; and 4 more failures of
    # the new container that only the counter tells (the Events' budget is spent).
    kubelet.liveness_failed(unhealthy, 3)
    kubelet.event("Killing", KILLING, event_type="Normal")
    kubelet.run_container(
        restarts=1, last_terminated=kubelet.terminated(exit_code=0, reason="Completed")
    )
    kubelet.counted(7)
    operator.start()

    settled = eventually(
        lambda: (
            (s := status(custom, namespace)).get("restarts") == 1
            and s.get("probeFailures") == 7
            and s
        ),
        what="the restart, and the counter's 7 failures",
    )
    assert settled["history"][0]["reason"] == "LivenessProbe"
    assert settled["history"][0]["probeFailures"] == 3
    assert counts_complete(settled) == ("True", "Exact")
    # And again after a clean restart of the operator: nothing counted twice.
    operator.stop()
    operator.start()
    kubelet.aggregate(unhealthy, 5)  # Events and counter disagree: the counter is the truth
    kubelet.counted(9)
    final = eventually(
        lambda: (s := status(custom, namespace)).get("probeFailures") == 9 and s,
        what="9 failures",
    )
    assert final["restarts"] == 1
    assert counts_complete(final) == ("True", "Exact")


def test_input_the_schema_cannot_judge_is_reported_invalid(
    operator: LocalOperator,
    installed: ControlPlane,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    apply(installed, sample(namespace, name="upper", image="Flask-Webapp:latest"))
    invalid = eventually(
        lambda: (s := status(custom, namespace, "upper")).get("phase") == "Invalid" and s,
        what="phase Invalid",
    )
    ready = {c["type"]: c for c in invalid["conditions"]}["Ready"]
    assert ready["reason"] == "InvalidSpec"
    assert "repository names must be lowercase" in ready["message"]
    assert read_pod(core, namespace, "upper-webapp") is None
    warning = eventually(lambda: events_about(core, namespace, "upper"), what="a Warning Event")
    assert warning[0].type == "Warning"
    assert "lowercase" in warning[0].message
    # Other HealthDemos are unaffected; fixing the spec recovers it.
    apply(installed, sample(namespace, name="fine"))
    eventually(lambda: read_pod(core, namespace, "fine-webapp"), what="the other Pod")
    apply(installed, sample(namespace, name="upper"))
    eventually(lambda: read_pod(core, namespace, "upper-webapp"), what="the fixed Pod")
    eventually(lambda: status(custom, namespace, "upper").get("phase") == "Pending", what="Pending")


def test_spec_change_replaces_the_pod_and_keeps_the_counts(
    operator: LocalOperator,
    installed: ControlPlane,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    apply(installed, sample(namespace))
    first = eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    kubelet = KubeletActor(core, namespace, "demo-webapp")
    kubelet.run_container(
        restarts=2, last_terminated=kubelet.terminated(exit_code=1, reason="Error")
    )
    eventually(lambda: status(custom, namespace).get("restarts") == 2, what="2 restarts")

    changed = sample(namespace)
    changed["spec"]["livenessProbe"]["failureThreshold"] = 5
    apply(installed, changed)

    def replaced() -> dict[str, Any] | None:
        pod = read_pod(core, namespace, "demo-webapp")
        if pod and pod["metadata"]["uid"] != first["metadata"]["uid"]:
            return pod
        return None

    second = eventually(replaced, what="a new Pod")
    assert second["spec"]["containers"][0]["livenessProbe"]["failureThreshold"] == 5
    assert second["metadata"]["annotations"]["demo.example.com/generation"] == "2"
    kubelet.run_container(
        restarts=1, last_terminated=kubelet.terminated(exit_code=1, reason="Error")
    )
    eventually(lambda: status(custom, namespace).get("restarts") == 3, what="2 + 1 restarts")
    replacing = [e for e in events_about(core, namespace, "demo") if e.reason == "ReplacingPod"]
    assert replacing and "generation 1 → 2" in replacing[0].message


def test_pod_deleted_by_someone_else_comes_back(
    operator: LocalOperator, installed: ControlPlane, core: client.CoreV1Api, namespace: str
) -> None:
    apply(installed, sample(namespace))
    first = eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    installed.kubectl("delete", "pod", "demo-webapp", "-n", namespace)
    again = eventually(
        lambda: (
            (p := read_pod(core, namespace, "demo-webapp"))
            and p["metadata"]["uid"] != first["metadata"]["uid"]
            and p
        ),
        what="the Pod recreated",
    )
    assert again["metadata"]["ownerReferences"][0]["name"] == "demo"


def test_deleting_the_healthdemo_removes_its_pod(
    operator: LocalOperator, installed: ControlPlane, core: client.CoreV1Api, namespace: str
) -> None:
    apply(installed, sample(namespace))
    eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    installed.kubectl("delete", "healthdemo", "demo", "-n", namespace)
    eventually(lambda: read_pod(core, namespace, "demo-webapp") is None, timeout=60, what="GC")


def test_image_pull_error_is_reported_with_the_fix(
    operator: LocalOperator,
    installed: ControlPlane,
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    kubelet = start_demo(installed, core, namespace, image="never-built:latest")
    kubelet.run_container(
        waiting={"reason": "ErrImagePull", "message": 'failed to pull image "never-built:latest"'}
    )
    failed = eventually(
        lambda: (s := status(custom, namespace)).get("phase") == "ImagePullError" and s,
        what="ImagePullError",
    )
    healthy = {c["type"]: c for c in failed["conditions"]}["Healthy"]
    assert "minikube image build -t never-built:latest ." in healthy["message"]
    assert "kind load docker-image never-built:latest" in healthy["message"]


def test_explain_teaches_the_fields(installed: ControlPlane) -> None:
    out = installed.kubectl("explain", "healthdemo.spec.livenessProbe").stdout
    assert "failureThreshold" in out
    assert "kubelet kills and restarts the container" in out


def test_operator_rbac_is_only_what_deploy_grants(installed: ControlPlane) -> None:
    def can(verb: str, resource: str, *extra: str) -> bool:
        result = installed.kubectl(
            "auth", "can-i", verb, resource, *extra, "-A", user="operator", check=False
        )
        return result.stdout.strip() == "yes"

    assert can("create", "pods")
    # (`resource/status` would ask about an object named "status": the subresource is a flag.)
    assert can("patch", "healthdemos.demo.example.com", "--subresource=status")
    assert not can("patch", "healthdemos.demo.example.com")
    assert not can("get", "secrets")
    assert not can("update", "pods")
    assert not can("delete", "healthdemos.demo.example.com")
