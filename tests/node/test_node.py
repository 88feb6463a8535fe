"""The real node: registration and identity, Pods on containerd, probes, Service routing.

Everything here goes through the real kubelet, containerd, runc, CNI and kube-proxy; the test
only talks to the API server and, over plain HTTP, to Pod IPs.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from typing import Any

import pytest
from healthdemo_sandbox import releases
from healthdemo_sandbox.node import Leftovers, network, runtime

from ..conftest import eventually, http_json
from .conftest import Cluster, seed_pod

pytestmark = pytest.mark.node

# A Pod from the operator image that calls the API server the way in-cluster clients do: the
# `kubernetes` Service's address from the environment, the ServiceAccount token and CA.
API_CLIENT = """\
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
base = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
token = open(f"{sa}/token").read()
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
tls = ssl.create_default_context(cafile=f"{sa}/ca.crt")
def call(path, body=None):
    request = urllib.request.Request(base + path, data=body, headers=headers)
    with urllib.request.urlopen(request, context=tls, timeout=10) as response:
        return json.load(response)
version = call("/version")
review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
me = call("/apis/authentication.k8s.io/v1/selfsubjectreviews", json.dumps(review).encode())
print(json.dumps({"url": base, "gitVersion": version["gitVersion"],
                  "user": me["status"]["userInfo"]["username"]}))
"""


def container_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses: list[dict[str, Any]] = pod["status"].get("containerStatuses", [])
    return statuses[0] if statuses else {}


def test_node_is_ready_and_registered_by_its_own_kubelet(cluster: Cluster) -> None:
    worker = cluster.node
    obj = worker.node_object()
    ready = [c for c in obj["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True", ready
    assert ready[0]["reason"] == "KubeletReady"
    info = obj["status"]["nodeInfo"]
    assert info["kubeletVersion"] == releases.selected().version
    assert info["containerRuntimeVersion"] == "containerd://" + runtime.CONTAINERD_VERSION[1:]
    addresses = {a["type"]: a["address"] for a in obj["status"]["addresses"]}
    assert addresses["InternalIP"] == worker.node_ip
    assert not ipaddress.ip_address(worker.node_ip).is_loopback
    assert not any(
        t["key"] == "node.kubernetes.io/not-ready" for t in obj["spec"].get("taints", [])
    )
    # The kubelet keeps renewing its Lease with its own identity.
    lease = eventually(
        lambda: cluster.kubectl(
            "get", "lease", worker.name, "-n", "kube-node-lease", "-o", "json", check=False
        ).stdout,
        what="the node's Lease",
    )  # fmt: skip
    assert json.loads(lease)["spec"]["holderIdentity"] == worker.name
    # Its certificate is system:node:<name> in system:nodes...
    who = json.loads(cluster.kubectl_as("kubelet", "auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"]["username"] == f"system:node:{worker.name}"
    assert "system:nodes" in who["status"]["userInfo"]["groups"]


def test_the_kubelet_takes_its_cgroup_driver_from_containerd(cluster: Cluster) -> None:
    """Ready for 1.38, which drops the kubelet's own setting: our KubeletConfiguration names no
    cgroupDriver, and containerd 2 tells the kubelet its driver over the CRI."""
    config = (cluster.node.state_dir / "kubelet" / "config.yaml").read_text()
    assert "cgroupDriver" not in config
    log = (cluster.node.logs / "kubelet.log").read_text()
    assert 'received from the CRI runtime" cgroupDriver="cgroupfs"' in log


def test_kubelet_identity_is_limited_to_its_node(cluster: Cluster) -> None:
    """Node authorizer + NodeRestriction: its own Node yes; others, and Secrets at large, no."""
    name = cluster.node.name

    def can(*args: str) -> str:
        """ "yes" or "no" (kubectl may add a reason: "no - can only read namespaced ...")."""
        answer = cluster.kubectl_as("kubelet", "auth", "can-i", *args).stdout.strip()
        return answer.split(" - ")[0]

    assert can("get", f"nodes/{name}") == "yes"
    assert can("update", f"nodes/{name}/status") == "yes"
    assert can("list", "secrets", "--all-namespaces") == "no"
    assert can("get", "secrets", "-n", "kube-system") == "no"
    assert can("delete", "namespaces") == "no"
    assert can("create", "clusterrolebindings") == "no"
    denied = cluster.kubectl_as("kubelet", "get", "secrets", "-n", "kube-system")
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    # Creating Nodes is a kubelet's right, but NodeRestriction admits only its own.
    impostor = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "someone-else"}}
    created = cluster.kubectl_as("kubelet", "create", "-f", "-", input=json.dumps(impostor))
    assert created.returncode != 0
    assert "is not allowed to modify node" in created.stderr, created.stderr


def test_seed_pod_runs_on_the_node_and_answers_over_http(cluster: Cluster, namespace: str) -> None:
    pod = seed_pod()
    name = pod["metadata"]["name"]
    cluster.apply(pod, namespace)
    running = cluster.wait_ready(name, namespace)
    assert running["spec"]["nodeName"] == cluster.node.name
    pod_ip = running["status"]["podIP"]
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(network.POD_SUBNET)
    status, body = http_json(f"http://{pod_ip}:5000/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, info = http_json(f"http://{pod_ip}:5000/")
    assert status == 200 and info["hostname"] == name
    # The image's non-root user, as the restricted securityContext demands (exec: API → kubelet).
    uid = cluster.kubectl("exec", "-n", namespace, name, "--", "id", "-u").stdout.strip()
    assert uid == "10001"
    scheduled = [e for e in cluster.events(name, namespace) if e["reason"] == "Scheduled"]
    assert scheduled, "no Scheduled event: kube-scheduler did not bind the Pod"


def test_restricted_namespace_admits_the_seed_pod_and_rejects_a_loose_one(
    cluster: Cluster, namespace: str
) -> None:
    ns = json.loads(cluster.kubectl("get", "namespace", namespace, "-o", "json").stdout)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    admitted = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", "--dry-run=server", input=json.dumps(seed_pod())
    )
    assert "created" in admitted.stdout and "Warning" not in admitted.stderr
    loose = seed_pod("loose")
    del loose["spec"]["securityContext"]
    del loose["spec"]["containers"][0]["securityContext"]
    rejected = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(loose), check=False
    )
    assert rejected.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in rejected.stderr


def test_liveness_failure_makes_the_kubelet_restart_the_container(
    cluster: Cluster, namespace: str
) -> None:
    """/start-failing with period 1 s, threshold 2: killed after ~2 s, exits 0, restarts once."""
    name = "fast-probes"
    pod = seed_pod(name)
    container = pod["spec"]["containers"][0]
    container["livenessProbe"].update(periodSeconds=1, failureThreshold=2)
    container["readinessProbe"].update(periodSeconds=1)
    cluster.apply(pod, namespace)
    pod_ip = cluster.wait_ready(name, namespace)["status"]["podIP"]
    began = time.monotonic()
    status, body = http_json(f"http://{pod_ip}:5000/start-failing")
    assert status == 200 and body["liveness"] == "failing"

    def restarted() -> dict[str, Any] | None:
        state = container_status(cluster.get("pod", name, namespace))
        return state if state.get("restartCount") == 1 else None

    restarted_state = eventually(restarted, timeout=30, what="restartCount 1")
    restart_s = time.monotonic() - began
    eventually(
        lambda: container_status(cluster.get("pod", name, namespace)).get("ready"),
        timeout=30,
        what="ready again",
    )
    ready_s = time.monotonic() - began
    terminated = restarted_state["lastState"]["terminated"]
    assert terminated["exitCode"] == 0, terminated  # gunicorn exits 0 on SIGTERM
    assert terminated["reason"] == "Completed"
    events = cluster.events(name, namespace)
    # (Readiness failures show up too while the container restarts: "connection refused".)
    unhealthy = [
        e
        for e in events
        if e["reason"] == "Unhealthy" and e["message"].startswith("Liveness probe failed: ")
    ]
    killing = [e for e in events if e["reason"] == "Killing"]
    assert unhealthy and killing, [(e["reason"], e["message"]) for e in events]
    assert all(e["source"]["component"] == "kubelet" for e in unhealthy + killing)
    assert "statuscode: 500" in unhealthy[0]["message"]
    assert "failed liveness probe" in killing[0]["message"]
    assert killing[0]["source"]["host"] == cluster.node.name
    status, body = http_json(f"http://{pod_ip}:5000/healthz")
    assert (status, body) == (200, {"status": "ok"})  # a new process: the failing state is gone
    print(
        f"\nliveness restart: restartCount 1 after {restart_s:.1f}s, ready after {ready_s:.1f}s "
        "(probe math: threshold 2 x period 1 s = 1-2 s of failures, then SIGTERM + start)",
        file=sys.stderr,
    )
    assert restart_s < 15


def test_pod_reaches_the_api_server_through_the_kubernetes_service(
    cluster: Cluster, namespace: str
) -> None:
    name = "api-client"
    pod = seed_pod(name)
    pod["spec"]["restartPolicy"] = "Never"
    container = pod["spec"]["containers"][0]
    for key in ("livenessProbe", "readinessProbe", "ports"):
        container.pop(key)
    container.update(
        name="client", image="healthdemo-operator:latest", command=["python", "-c", API_CLIENT]
    )
    cluster.apply(pod, namespace)

    def finished() -> str | None:
        phase: str = cluster.get("pod", name, namespace)["status"].get("phase", "")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = eventually(finished, timeout=60, what="the API client Pod finished")
    logs = cluster.kubectl("logs", "-n", namespace, name).stdout  # API server → kubelet stream
    assert phase == "Succeeded", logs
    answer = json.loads(logs.strip().splitlines()[-1])
    assert answer["url"] == "https://10.0.0.1:443"
    assert answer["gitVersion"] == releases.selected().version
    assert answer["user"] == f"system:serviceaccount:{namespace}:default"
    # The Service's only endpoint is the API server on the host's address; kube-proxy's DNAT is
    # what connects the two.
    slices = json.loads(
        cluster.kubectl(
            "get", "endpointslices", "-n", "default",
            "-l", "kubernetes.io/service-name=kubernetes", "-o", "json",
        ).stdout
    )["items"]  # fmt: skip
    endpoints = [a for s in slices for e in s["endpoints"] for a in e["addresses"]]
    assert endpoints == [cluster.plane.advertise_address]


def test_leftover_check_sees_the_running_node(cluster: Cluster) -> None:
    """The check the finalizer asserts empty is not blind: it sees every part of a live node."""
    left = cluster.node.leftovers()
    commands = " ".join(left.processes)
    for part in ("containerd --config", "kubelet", "kube-proxy", "kube-scheduler"):
        assert part in commands, part
    assert left.cgroups and left.links == [network.BRIDGE]
    assert any("KUBE-SERVICES" in chain for chain in left.iptables)
    assert any(m.endswith("/kubelet/root") for m in left.mounts)


def test_start_cleaned_up_what_a_crashed_run_left(cluster: Cluster, crashed_run: Leftovers) -> None:
    """A run SIGKILLed with a Pod running left shims, containers, mounts, cgroups, rules..."""
    assert any("containerd-shim-runc-v2" in p for p in crashed_run.processes)
    assert any("python -m webapp" in p for p in crashed_run.processes)  # found by its cgroup
    assert crashed_run.mounts and crashed_run.netns and crashed_run.cgroups
    assert crashed_run.links == [network.BRIDGE] and crashed_run.iptables
    assert any(f.startswith("/run/containerd/s/") for f in crashed_run.host_files)
    assert crashed_run.sysctls  # the kubelet's kernel.panic & co., to be restored
    # ...and this session's node found and removed all of it before starting.
    done = "\n".join(cluster.node.cleaned_at_start)
    for shim in (p for p in crashed_run.processes if "containerd-shim" in p):
        assert f"killed {shim.split()[0]} " in done
    for mount in crashed_run.mounts + crashed_run.netns:
        assert f"unmounted {mount}" in done
    assert f"deleted bridge {network.BRIDGE}" in done
    assert "restored kernel.panic_on_oops" in done
