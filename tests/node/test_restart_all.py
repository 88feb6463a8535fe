"""The restart-all lesson on the real node: deploy/examples/restart-all.yaml as a user applies it.
Where the release has RestartAllContainers (on by default from 1.36), the webapp's exit 42
matches its rule and the kubelet restarts every container of the Pod in place, the sidecar too;
the kubelet's own Pod status is the truth. Where it has not (1.35), the API server refuses the
action and the HealthDemo says so, with no Pod."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from healthdemo_sandbox import releases

from ..conftest import ROOT, eventually
from .conftest import Cluster
from .test_e2e import Demo, running

pytestmark = pytest.mark.node

EXAMPLE = ROOT / "deploy" / "examples" / "restart-all.yaml"
NAME = "restart-all"
REMOVED = "RestartingAllContainers"  # the kubelet's lastState reason for an instance it reset


def statuses(demo: Demo) -> dict[str, dict[str, Any]]:
    """Every container's status, by name, as the kubelet reports it."""
    status = demo.pod()["status"]
    found = status.get("initContainerStatuses", []) + status["containerStatuses"]
    return {c["name"]: c for c in found}


def reset(demo: Demo, restarts: int) -> dict[str, Any]:
    """Exit 42, and the operator's record once every container runs again."""
    assert demo.call("/crash?code=42", method="POST") == (202, {"crashing": True, "exitCode": 42})
    return demo.until(
        lambda s: (
            s.get("restarts") == restarts
            and all(i.get("backOffSeconds") is not None for i in s["history"][:2])
        ),
        f"{restarts} restarts recorded, every container running again",
    )


def exit_42_restarts_every_container_in_place(deployed: Cluster, namespace: str) -> None:
    deployed.apply(yaml.safe_load(EXAMPLE.read_text()), namespace)
    demo = running(deployed, namespace, NAME)
    first = demo.pod()
    conditions = {c["type"] for c in first["status"]["conditions"]}
    assert "AllContainersRestarting" in conditions  # the kubelet has the feature

    recorded = reset(demo, 2)
    pod = demo.pod()
    # What the kubelet did: the same Pod and IP, each container restarted once, in place.
    assert pod["metadata"]["uid"] == first["metadata"]["uid"]
    assert pod["status"]["podIP"] == first["status"]["podIP"]
    kubelet = statuses(demo)
    assert set(kubelet) == {"webapp", "sidecar"}
    for name, container in kubelet.items():
        assert container["restartCount"] == 1, name
        assert container["lastState"]["terminated"]["reason"] == REMOVED, name
    # What the operator recorded: one restart per container, for the rule's reason.
    assert recorded["restartReasons"] == {"RestartAllContainers": 2}
    assert recorded["containerRestarts"] == {"webapp": 1, "sidecar": 1}
    items = {i.get("container", "webapp"): i for i in recorded["history"][:2]}
    assert set(items) == {"webapp", "sidecar"}
    for item in items.values():
        assert (item["reason"], item["evidence"]) == ("RestartAllContainers", "Runtime")
        assert item["time"] is not None and item["expectedBackOffSeconds"] == 0.0
    assert items["webapp"]["detail"].startswith(
        "it exited with a code that matched restartPolicyRules[0]: RestartAllContainers"
    )
    assert items["sidecar"]["detail"].startswith("webapp exited with a code that matched")

    # Again: still in place, and the kubelet holds nothing in back-off (it kept no instance).
    deployed.wait_ready(f"{NAME}-webapp", namespace)
    assert demo.first_answer("/healthz")[0] == 200
    again = reset(demo, 4)
    assert {n: c["restartCount"] for n, c in statuses(demo).items()} == {"webapp": 2, "sidecar": 2}
    assert demo.pod()["metadata"]["uid"] == first["metadata"]["uid"]
    assert again["containerRestarts"] == {"webapp": 2, "sidecar": 2}
    conditions_now = {c["type"]: c for c in again["conditions"]}
    assert conditions_now["CountsComplete"]["status"] == "True"
    for name, container in statuses(demo).items():
        started = container["state"]["running"]["startedAt"]
        item = next(i for i in again["history"][:2] if i.get("container", "webapp") == name)
        # The wait is from the kubelet's reset (its condition) to this start (its startedAt).
        assert item["backOffSeconds"] <= 3, (name, item, started)


def a_release_without_restart_all_refuses_it_and_the_healthdemo_says_so(
    deployed: Cluster, namespace: str
) -> None:
    deployed.apply(yaml.safe_load(EXAMPLE.read_text()), namespace)
    demo = Demo(deployed, namespace, NAME)
    status = demo.until(lambda s: s.get("phase") == "Invalid", "phase Invalid")
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "FeatureUnavailable")
    assert ready["message"].startswith(
        "spec.restartPolicyRules[].action RestartAllContainers needs the feature gate "
        "RestartAllContainersOnContainerExits (beta and on by default since Kubernetes 1.36)"
    )
    assert "this API server refused it" in ready["message"]
    pods = deployed.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout
    assert pods.strip() == ""  # asked first: no Pod runs without its rule
    told = eventually(
        lambda: deployed.kubectl(
            "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].type}",
            "--field-selector=involvedObject.kind=HealthDemo,reason=FeatureUnavailable",
        ).stdout,
        what="the FeatureUnavailable Event",
    )  # fmt: skip
    assert told == "Warning"


# Each release runs the test of what it has (none is skipped: CI would fail a skip).
if releases.selected().restart_all_containers:
    test_exit_42_restarts_every_container_in_place = exit_42_restarts_every_container_in_place
else:
    test_a_release_without_restart_all_refuses_it_and_the_healthdemo_says_so = (
        a_release_without_restart_all_refuses_it_and_the_healthdemo_says_so
    )
