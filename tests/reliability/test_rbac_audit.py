"""Least privilege, proven: the API calls the operator made (the API server's audit log) are
exactly what deploy/rbac.yaml grants — nothing unused, nothing missing, no 403.

Two grants are checked by the kubelet, not the API server: `nodes/metrics` (the probe counters)
and `nodes/configz` (its back-off schedule). The node tests prove those on a real kubelet
(tests/node/test_exact_counts.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from healthdemo_sandbox.ports import free_port
from kubernetes import client

from ..conftest import ROOT, eventually
from ..healthdemo_operator.kubelet_actor import KILLING, LIVENESS_500, KubeletActor
from ..healthdemo_operator.test_operator import apply, read_pod, sample, status

pytestmark = pytest.mark.controlplane

Permission = tuple[str, str, str]  # (API group, resource[/subresource], verb)
OPERATOR_AGENTS = ("kopf/", "healthdemo-operator/")  # Kopf's own client, and ours
# Asked of the kubelet, never of the API server: the probe counters and the kubelet's configuration.
KUBELET_AUTHORIZED = {("", "nodes/metrics", "get"), ("", "nodes/configz", "get")}
# Open to every authenticated identity by Kubernetes' own default ClusterRole system:basic-user:
# asking what it may do itself (where a kubelet is out of reach, whether it may use the API
# server's node proxy: it may not, and goes without).
EVERY_USER = {("authorization.k8s.io", "selfsubjectaccessreviews", "create")}


def bind_to_a_node_without_kubelet(core: client.CoreV1Api, namespace: str, pod: str) -> str:
    """A Node object whose kubelet port is closed: the operator looks the Node up (`get nodes`)
    and finds nobody to read the counters from, as in a cluster where it cannot reach kubelets."""
    node = f"rbac-node-{uuid.uuid4().hex[:6]}"
    core.create_node({"metadata": {"name": node}})
    endpoint = {"kubeletEndpoint": {"Port": free_port()}}
    address = [{"type": "InternalIP", "address": "127.0.0.1"}]
    core.patch_node_status(node, {"status": {"addresses": address, "daemonEndpoints": endpoint}})
    binding = {"metadata": {"name": pod}, "target": {"kind": "Node", "name": node}}
    core.create_namespaced_pod_binding(pod, namespace, binding, _preload_content=False)
    return node


def granted() -> set[Permission]:
    """Every (group, resource, verb) the operator's ClusterRole allows."""
    documents = yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text())
    (role,) = [d for d in documents if d["kind"] == "ClusterRole"]
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used(audit_log: Path, username: str) -> tuple[set[Permission], list[str]]:
    """What `username` did, from the audit log; and every request of theirs RBAC refused."""
    calls: set[Permission] = set()
    refused = []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if event["user"]["username"] != username or event.get("stage") != "ResponseComplete":
            continue
        if not event.get("userAgent", "").startswith(OPERATOR_AGENTS):
            continue  # a test acting as the operator's identity, not the operator program
        ref = event.get("objectRef")
        if ref is None:
            continue  # discovery (/api, /apis, /version): open to every authenticated user
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        calls.add((ref.get("apiGroup", ""), resource, event["verb"]))
        decision = (event.get("annotations") or {}).get("authorization.k8s.io/decision")
        if decision == "forbid":  # RBAC said no (not, say, a terminating namespace)
            refused.append(f"{event['verb']} {event['requestURI']}")
    return calls, refused


def test_operator_uses_exactly_its_rbac(installed: ControlPlane, tmp_path: Path) -> None:
    assert installed.audit_log is not None
    namespace = f"rbac-{uuid.uuid4().hex[:6]}"
    installed.kubectl("create", "namespace", namespace)
    core = client.CoreV1Api(installed.api_client())
    custom = client.CustomObjectsApi(installed.api_client())
    operator = LocalOperator(
        installed.kubeconfig("operator"), tmp_path / "operator.log", peering="healthdemo"
    )
    node: str | None = None
    operator.start()
    try:
        # Everything the operator does in a HealthDemo's life: create, record, post Events...
        apply(installed, sample(namespace))
        eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
        node = bind_to_a_node_without_kubelet(core, namespace, "demo-webapp")
        kubelet = KubeletActor(core, namespace, "demo-webapp")
        kubelet.run_container()
        unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
        kubelet.event("Killing", KILLING, event_type="Normal")
        kubelet.run_container(
            restarts=1, last_terminated=kubelet.terminated(exit_code=0, reason="Completed")
        )
        eventually(lambda: status(custom, namespace).get("restarts") == 1, what="a restart")
        # ...re-read after someone else wrote the status (a conflict)...
        installed.kubectl(
            "patch", "healthdemo", "demo", "-n", namespace, "--subresource=status",
            "--type=merge", "-p", '{"status": {"phase": "Pending"}}',
        )  # fmt: skip
        kubelet.aggregate(unhealthy, 2)
        eventually(lambda: status(custom, namespace).get("probeFailures") == 2, what="re-read")
        # ...and replace the Pod on a spec change.
        changed = sample(namespace)
        changed["spec"]["livenessProbe"]["failureThreshold"] = 4
        apply(installed, changed)

        def replaced() -> bool:
            pod = read_pod(core, namespace, "demo-webapp")
            if pod and pod["metadata"].get("deletionTimestamp"):
                kubelet.confirm_deletion()  # the node has no kubelet to do it
            annotations = pod["metadata"]["annotations"] if pod else {}
            return bool(annotations.get("demo.example.com/generation") == "2")

        eventually(replaced, what="the Pod replaced")
        # ...and resize it in place when only its resources change.
        current = read_pod(core, namespace, "demo-webapp")
        assert current is not None
        replaced_uid = current["metadata"]["uid"]
        changed["spec"]["resources"] = {"limits": {"memory": "320Mi"}}
        apply(installed, changed)

        def resized() -> bool:
            pod = read_pod(core, namespace, "demo-webapp") or {"metadata": {}}
            generation = (pod["metadata"].get("annotations") or {}).get(
                "demo.example.com/generation"
            )
            return generation == "3" and pod["metadata"]["uid"] == replaced_uid

        eventually(resized, what="the Pod resized in place")
        # ...and find out whose a Pod holding our Pod's name is (a squatter: never touched).
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": "squat-webapp"},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            },
        )
        apply(installed, sample(namespace, name="squat"))
        eventually(
            lambda: status(custom, namespace, "squat").get("phase") == "Invalid",
            what="Invalid (PodNameTaken)",
        )
    finally:
        operator.stop()
        installed.kubectl("delete", "namespace", namespace, "--wait=false")
        if node:
            installed.kubectl("delete", "node", node, "--wait=false")

    calls, refused = used(installed.audit_log, installed.users["operator"].name)
    assert refused == [], "the operator was refused"
    assert calls - granted() - EVERY_USER == set(), "called without a grant (403 in a cluster)"
    assert ("", "nodes", "get") in calls, "the Pod's Node was never looked up"
    unused = granted() - calls - KUBELET_AUTHORIZED
    assert unused == set(), "granted but never used: remove from deploy/rbac.yaml"
