"""The operator logs in with a ServiceAccount token, as it does in a cluster.

The other tests' operator authenticates with a static token; a Pod's operator gets a bound
ServiceAccount token (a JWT). Some client versions lost that token on the way (kubernetes
36.0.0 sent none; Kopf before 1.44.6 did not find it where 36.0.1 put it), while certificates
and static tokens kept working — so only this identity shows it. The truth comes from the API
server's audit log: which credential each of the operator's requests carried.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
import yaml
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from kubernetes import client

from ..conftest import eventually
from ..healthdemo_operator.kubelet_actor import KILLING, LIVENESS_500, KubeletActor
from ..healthdemo_operator.test_operator import apply, read_pod, sample, status
from .test_rbac_audit import OPERATOR_AGENTS

pytestmark = pytest.mark.controlplane

SERVICE_ACCOUNT = ("healthdemo-system", "healthdemo-operator")
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def service_account_token(plane: ControlPlane) -> str:
    """A bound token from the TokenRequest API, like the kubelet mounts into a Pod."""
    namespace, name = SERVICE_ACCOUNT
    result = plane.kubectl("create", "token", name, "-n", namespace, "--duration=1h")
    return result.stdout.strip()


def jwt_id(token: str) -> str:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["jti"])


def token_kubeconfig(plane: ControlPlane, token: str, path: Path) -> Path:
    """The admin kubeconfig's cluster, with the ServiceAccount token as the only credential."""
    config = yaml.safe_load(plane.kubeconfig("admin").read_text())
    config["users"][0]["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    return path


def test_operator_works_with_a_service_account_token(
    installed: ControlPlane, tmp_path: Path
) -> None:
    assert installed.audit_log is not None
    token = service_account_token(installed)
    namespace = f"token-{uuid.uuid4().hex[:6]}"
    installed.kubectl("create", "namespace", namespace)
    core = client.CoreV1Api(installed.api_client())
    custom = client.CustomObjectsApi(installed.api_client())
    operator = LocalOperator(
        token_kubeconfig(installed, token, tmp_path / "token.kubeconfig"),
        tmp_path / "operator.log",
    )
    operator.start()
    try:
        apply(installed, sample(namespace))
        eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
        kubelet = KubeletActor(core, namespace, "demo-webapp")
        kubelet.run_container()
        kubelet.event("Unhealthy", LIVENESS_500)
        kubelet.event("Killing", KILLING, event_type="Normal")
        kubelet.run_container(
            restarts=1, last_terminated=kubelet.terminated(exit_code=0, reason="Completed")
        )
        eventually(lambda: status(custom, namespace).get("restarts") == 1, what="a restart")
    finally:
        operator.stop()
        installed.kubectl("delete", "namespace", namespace, "--wait=false")

    # Every request of the operator program carried that token, from both clients.
    username = "system:serviceaccount:{}:{}".format(*SERVICE_ACCOUNT)
    credential = f"JTI={jwt_id(token)}"
    by_agent: dict[str, set[str]] = {agent: set() for agent in OPERATOR_AGENTS}
    for line in installed.audit_log.read_text().splitlines():
        event = json.loads(line)
        agent = next((a for a in OPERATOR_AGENTS if event.get("userAgent", "").startswith(a)), "")
        credentials = (event["user"].get("extra") or {}).get(CREDENTIAL_ID) or []
        if agent and credential in credentials:
            assert event["user"]["username"] == username
            by_agent[agent].add(f"{event['verb']} {(event.get('objectRef') or {}).get('resource')}")
    assert "watch healthdemos" in by_agent["kopf/"], "Kopf did not watch with the token"
    assert "patch healthdemos" in by_agent["healthdemo-operator/"], "status not written with it"
    assert "create pods" in by_agent["healthdemo-operator/"], "the Pod not created with it"
    informed = {"list pods", "watch pods", "list events", "watch events"}
    assert informed <= by_agent["healthdemo-operator/"], "the informers did not use it"
