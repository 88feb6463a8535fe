"""The restart-all lesson without a server: a RestartAllContainers rule restarts every container
of the Pod in place. The kubelet keeps only `RestartingAllContainers` (exit 137, no times) of
each instance it removed, so the cause, the time and the wait come from that, its
AllContainersRestarting condition, and the webapp's journal; a server without the feature
refuses the action."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from healthdemo_operator import features, podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.observations import pod_view
from healthdemo_operator.restart_rules import restarted, rules_of
from healthdemo_operator.status.conditions import ended_message
from healthdemo_operator.status.record import record

from .kubelet_data import OWNER_UID, pod

RULES = [{"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [42]}}]
RAW_SPEC: dict[str, Any] = {"restartPolicy": "Never", "restartPolicyRules": RULES, "sidecar": {}}
SPEC = podspec.effective(RAW_SPEC)
NOW = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
RESET_AT = "2026-11-30T10:00:31Z"  # the condition's lastTransitionTime: every instance removed
REMOVED = {
    "exitCode": 137,
    "reason": "RestartingAllContainers",
    "message": "The container is removed because RestartAllContainers in place",
    "startedAt": None,
    "finishedAt": None,
}  # what the kubelet (v1.37) leaves in lastState.terminated of every container it reset
WAITING = {"waiting": {"reason": "RestartingAllContainers"}}


def demo() -> HealthDemo:
    meta = {"name": "demo", "namespace": "default", "uid": OWNER_UID, "generation": 1}
    return HealthDemo.of({"metadata": meta, "spec": RAW_SPEC})


def reset_pod(
    *, started: str | None = "2026-11-30T10:00:32Z", condition: str = "False"
) -> dict[str, Any]:
    """The lesson's Pod after one reset: both containers restarted once, removed instances."""
    state = {"running": {"startedAt": started}} if started else WAITING
    raw = pod(restarts=1, state=state, last_terminated=dict(REMOVED), ready=started is not None,
              ready_since="2026-11-30T10:00:33Z")  # fmt: skip
    raw["spec"] = {**podspec.build_pod(demo())["spec"], "nodeName": "sandbox-node"}
    raw["status"]["initContainerStatuses"] = [
        {
            "name": "sidecar",
            "restartCount": 1,
            "ready": started is not None,
            "started": started is not None,
            "state": state,
            "lastState": {"terminated": dict(REMOVED)},
        }
    ]
    raw["status"]["conditions"].append(
        {"type": "AllContainersRestarting", "status": condition, "lastTransitionTime": RESET_AT}
    )
    return raw


def run(pods: list[dict[str, Any]], previous: dict[str, Any] | None = None) -> Any:
    return record(
        previous=previous or {},
        spec=SPEC,
        generation=1,
        pod_name="demo-webapp",
        pods=[pod_view(p) for p in pods],
        events=[],
        problem=None,
        now=NOW,
    )


def test_the_kubelet_restarts_on_a_restart_all_rule_too() -> None:
    rules = rules_of(RULES)
    assert restarted("Never", rules, 42)
    assert not restarted("Never", rules, 1)


def test_a_reset_counts_once_per_container_for_its_own_cause() -> None:
    result = run([reset_pod()])
    status = result.status
    assert status["restarts"] == 2
    assert status["restartReasons"] == {"RestartAllContainers": 2}
    assert status["containerRestarts"] == {"webapp": 1, "sidecar": 1}
    sidecar, webapp = status["history"]
    assert (sidecar["container"], "container" in webapp) == ("sidecar", False)
    for item in (webapp, sidecar):
        assert (item["reason"], item["evidence"], item["exitCode"]) == (
            "RestartAllContainers",
            "Runtime",
            137,
        )
        assert item["time"] == RESET_AT  # the kubelet keeps no time of a removed instance
        # No back-off: the kubelet removed every instance; started 1 s after the reset.
        assert (item["expectedBackOffSeconds"], item["backOffSeconds"]) == (0.0, 1.0)
    assert webapp["detail"] == (
        "it exited with a code that matched restartPolicyRules[0]: RestartAllContainers when "
        "the exit code is in [42]: the kubelet restarted every container of the Pod in place "
        "(and removed this instance: its exit code is not kept)"
    )
    assert sidecar["detail"].startswith("webapp exited with a code that matched")
    told = [n.message for n in result.notices if n.reason == "Restarted"]
    assert told[0].startswith("Container restarted (RestartAllContainers): it exited")
    assert told[1].startswith("Sidecar sidecar restarted (RestartAllContainers): webapp exited")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["CountsComplete"]["status"] == "True"


def test_a_reset_seen_while_every_container_waits_gets_its_wait_once_they_run() -> None:
    waiting = run([reset_pod(started=None, condition="True")]).status
    assert waiting["restarts"] == 2
    assert [i.get("backOffSeconds") for i in waiting["history"]] == [None, None]
    running = run([reset_pod()], previous=waiting).status
    assert running["restarts"] == 2  # nothing counted twice
    assert [i["backOffSeconds"] for i in running["history"]] == [1.0, 1.0]


def journal(*exits: dict[str, Any]) -> str:
    body = {"containers": len(exits) + 1, "livenessFailures": 0, "exits": list(exits)}
    return "healthdemo-journal/v1 " + json.dumps(body)


@pytest.mark.parametrize(
    ("killed_at", "reason"),
    [
        ("2026-11-30T10:00:32.500Z", "RestartAllContainers"),
        ("2026-11-30T10:00:50Z", "LivenessProbe"),
    ],
)
def test_an_older_reset_is_told_by_the_journals(killed_at: str, reason: str) -> None:
    """Seen later, after a plain restart of each: the webapp's journal has its exit 42, the
    sidecar's a SIGTERM just after it (the kubelet's kill for the reset), or much later (a
    liveness kill of its own)."""
    crash = {"c": 0, "cause": "crash", "at": "2026-11-30T10:00:30.000Z", "code": 42}
    plain = {"c": 1, "cause": "crash", "at": "2026-11-30T10:00:55.000Z", "code": 1}
    raw = reset_pod()
    webapp = raw["status"]["containerStatuses"][0]
    webapp["restartCount"] = 2
    webapp["lastState"]["terminated"] = {
        "exitCode": 1, "reason": "Error", "containerID": "containerd://c2",
        "startedAt": "2026-11-30T10:00:32Z", "finishedAt": "2026-11-30T10:00:55Z",
        "message": journal(crash, plain),
    }  # fmt: skip
    sidecar = raw["status"]["initContainerStatuses"][0]
    sidecar["restartCount"] = 2
    kill = {"c": 0, "cause": "sigterm", "at": killed_at}
    sidecar["lastState"]["terminated"] = {
        "exitCode": 0, "reason": "Completed", "containerID": "containerd://s2",
        "startedAt": "2026-11-30T10:00:32Z", "finishedAt": "2026-11-30T10:00:56Z",
        "message": journal(kill, {"c": 1, "cause": "sigterm", "at": "2026-11-30T10:00:56.000Z"}),
    }  # fmt: skip
    status = run([raw]).status
    items = {(i.get("container", "webapp"), i["restart"]): i for i in status["history"]}
    first = items["webapp", 1]
    assert (first["reason"], first["evidence"]) == ("RestartAllContainers", "Journal")
    assert first["detail"].startswith("exit code 42 matched restartPolicyRules[0]")
    assert items["sidecar", 1]["reason"] == reason
    if reason == "RestartAllContainers":
        assert items["sidecar", 1]["detail"] == (
            "webapp exited with code 42, which matched restartPolicyRules[0]: "
            "RestartAllContainers when the exit code is in [42]: the kubelet restarted every "
            "container of the Pod in place"
        )


# The API server of Kubernetes 1.35 (the feature alpha and off) refusing the Pod.
REFUSED_135 = (
    'Pod "restart-all-webapp" is invalid: spec.containers[0].restartPolicyRules[0].action: '
    'Unsupported value: "RestartAllContainers": supported values: "Restart"'
)


def test_a_server_without_the_feature_refuses_the_action_and_that_is_said() -> None:
    wanted = podspec.build_pod(demo())
    assert [f.gate for f in features.asked(wanted)] == ["ContainerRestartRules"]
    message = features.refused(REFUSED_135)
    assert message is not None
    assert message.startswith(
        "spec.restartPolicyRules[].action RestartAllContainers needs the feature gate "
        "RestartAllContainersOnContainerExits (beta and on by default since Kubernetes 1.36)"
    )
    assert features.refused("spec.containers[0].image: Required value") is None
    assert features.refused('Unsupported value: "Sometimes": supported values: "Always"') is None


def test_a_pod_a_kubelet_without_the_feature_ended_says_so() -> None:
    raw = pod(
        state={"terminated": {"exitCode": 42, "reason": "Error",
                              "finishedAt": "2026-11-30T10:00:30Z"}},
        ready=False,
    )  # fmt: skip
    raw["spec"] = podspec.build_pod(demo())["spec"]
    raw["status"]["phase"] = "Failed"
    message = ended_message(pod_view(raw))
    assert (
        "restartPolicyRules[0]: RestartAllContainers when the exit code is in [42] matched it, "
        "but the node's kubelet did not act on it (its feature gate "
        "RestartAllContainersOnContainerExits is off there)"
    ) in message
