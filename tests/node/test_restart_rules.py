"""The restart-rules lesson on the real node (Kubernetes 1.35+, where ContainerRestartRules is on
by default): deploy/examples/restart-rules.yaml as a user applies it. Exit 42 matches the
container's rule and the kubelet restarts it in place although the Pod's restartPolicy is Never;
exit 1 matches nothing and the Pod ends. The kubelet's own Pod status is the truth."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ..conftest import ROOT
from .conftest import Cluster
from .test_e2e import running

pytestmark = pytest.mark.node

EXAMPLE = ROOT / "deploy" / "examples" / "restart-rules.yaml"


def test_exit_42_is_restarted_by_its_rule_and_exit_1_ends_the_pod(
    deployed: Cluster, namespace: str
) -> None:
    body: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    deployed.apply(body, namespace)
    demo = running(deployed, namespace, "restart-rules")
    first = demo.pod()
    assert (
        first["spec"]["containers"][0]["restartPolicyRules"] == body["spec"]["restartPolicyRules"]
    )

    assert demo.call("/crash?code=42", method="POST") == (202, {"crashing": True, "exitCode": 42})
    recorded = demo.until(lambda s: s.get("restarts") == 1, "the rule's restart recorded")
    # What the kubelet did: the same Pod, its container restarted in place after exit 42.
    pod = demo.pod()
    assert pod["metadata"]["uid"] == first["metadata"]["uid"]
    (container,) = pod["status"]["containerStatuses"]
    assert container["restartCount"] == 1
    assert container["lastState"]["terminated"]["exitCode"] == 42
    # What the operator recorded.
    assert recorded["restartReasons"] == {"RestartRule": 1}
    item = recorded["history"][0]
    assert (item["reason"], item["evidence"], item["exitCode"]) == ("RestartRule", "Journal", 42)
    assert item["detail"] == (
        "exit code 42 matched restartPolicyRules[0]: Restart when the exit code is in [42]"
    )
    demo.until(lambda s: s["history"][0].get("recoverySeconds") is not None, "ready again")

    deployed.wait_ready("restart-rules-webapp", namespace)
    assert demo.first_answer("/healthz")[0] == 200  # Ready comes before the app listens
    assert demo.call("/crash?code=1", method="POST")[0] == 202
    ended = demo.until(lambda s: s.get("phase") == "Ended", "phase Ended")
    pod = demo.pod()
    assert pod["status"]["phase"] == "Failed"  # the kubelet's word: nothing runs again
    (container,) = pod["status"]["containerStatuses"]
    assert container["restartCount"] == 1
    assert container["state"]["terminated"]["exitCode"] == 1
    assert ended["restarts"] == 1 and ended["restartReasons"] == {"RestartRule": 1}
    conditions = {c["type"]: c for c in ended["conditions"]}
    assert conditions["Ready"]["reason"] == "PodEnded"
    assert (
        "restartPolicy Never restarts no exit with code 1, and no restart rule matched it"
        in (conditions["Ready"]["message"])
    )
    assert conditions["CountsComplete"]["status"] == "True"
    # Kept as it ended: the operator does not replace it.
    assert demo.pod()["metadata"]["uid"] == first["metadata"]["uid"]
    told = deployed.kubectl(
        "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].type}",
        "--field-selector=involvedObject.kind=HealthDemo,reason=PodEnded",
    ).stdout  # fmt: skip
    assert told == "Warning"
