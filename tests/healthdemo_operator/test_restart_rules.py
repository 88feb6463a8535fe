"""The restart-rules lesson, without a server: the Pod it asks for, the kubelet's decision on an
exit, each restart attributed to the rule that made it, the Pod that ends, and a cluster that
drops the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from healthdemo_operator import features, podspec
from healthdemo_operator.observations import pod_view
from healthdemo_operator.restart_rules import first_match, restarted, rules_of

from .kubelet_data import pod
from .test_podspec import build, container
from .test_recording import run

RULES = [{"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}]
NOT_ZERO = [{"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [0]}}]
LESSON = {"restartPolicy": "Never", "restartPolicyRules": RULES}
JOURNAL = "healthdemo-journal/v1 "


def test_the_pod_carries_the_rules_and_the_policy_kubernetes_wants_beside_them() -> None:
    built = build(LESSON)
    assert built["spec"]["restartPolicy"] == "Never"
    c = container(built)
    assert c["restartPolicy"] == "Never"  # required wherever a container has rules
    assert c["restartPolicyRules"] == RULES
    plain = build()
    assert plain["spec"]["restartPolicy"] == "Always"
    assert "restartPolicy" not in container(plain)
    assert "restartPolicyRules" not in container(plain)
    assert build({"restartPolicy": "OnFailure"})["spec"]["restartPolicy"] == "OnFailure"


@pytest.mark.parametrize(
    ("policy", "rules", "code", "restarts"),
    [
        ("Never", RULES, 42, True),  # the rule
        ("Never", RULES, 1, False),  # no rule matched: the policy
        ("Never", RULES, 0, False),
        ("OnFailure", RULES, 1, True),
        ("OnFailure", [], 0, False),
        ("Always", [], 0, True),
        ("Never", NOT_ZERO, 3, True),
        ("Never", NOT_ZERO, 0, False),
    ],
)  # fmt: skip
def test_the_kubelets_decision_on_an_exit(
    policy: str, rules: list[dict[str, Any]], code: int, restarts: bool
) -> None:
    assert restarted(policy, rules_of(rules), code) is restarts


def test_the_first_matching_rule_decides() -> None:
    rules = rules_of([
        {"action": "Restart", "exitCodes": {"operator": "In", "values": [1, 2]}},
        {"action": "Restart", "exitCodes": {"operator": "NotIn", "values": [0]}},
    ])  # fmt: skip
    first = first_match(rules, 2)
    assert first is not None and first.index == 0
    second = first_match(rules, 7)
    assert second is not None
    assert second.describe() == "restartPolicyRules[1]: Restart when the exit code is not in [0]"


def lesson_pod(**values: Any) -> dict[str, Any]:
    """A Pod of the lesson as the kubelet reports it: the spec the operator built."""
    raw = pod(**values)
    raw["spec"] = {**build(LESSON)["spec"], "nodeName": "sandbox-node"}
    return raw


def journal(*exits: dict[str, Any]) -> str:
    return JOURNAL + json.dumps({"containers": len(exits) + 1, "livenessFailures": 0,
                                 "exits": list(exits)})  # fmt: skip


def exit_with(code: int, *, c: int = 0, told: bool = True) -> dict[str, Any]:
    """lastState.terminated of a container that exited with `code` (the webapp's journal says
    so unless `told` is False)."""
    end = {"c": c, "cause": "crash", "at": "2026-11-30T10:00:30.000Z", "code": code}
    return {
        "exitCode": code,
        "reason": "Error",
        "startedAt": "2026-11-30T10:00:04Z",
        "finishedAt": "2026-11-30T10:00:30Z",
        "containerID": f"containerd://c{c + 1}",
        **({"message": journal(end)} if told else {}),
    }


@pytest.mark.parametrize("told", [True, False], ids=["journal", "runtime"])
def test_a_restart_by_a_rule_is_its_own_cause(told: bool) -> None:
    restarted_pod = lesson_pod(restarts=1, last_terminated=exit_with(42, told=told),
                               ready_since="2026-11-30T10:00:31Z")  # fmt: skip
    result = run(pods=[restarted_pod], spec=podspec.effective(LESSON))
    status = result.status
    assert status["restarts"] == 1
    assert status["restartReasons"] == {"RestartRule": 1}
    assert status["lastRestartReason"] == "RestartRule"
    (item,) = status["history"]
    assert item["evidence"] == ("Journal" if told else "Runtime")
    assert item["exitCode"] == 42
    assert item["probeFailures"] == 0
    assert item["detail"] == (
        "exit code 42 matched restartPolicyRules[0]: Restart when the exit code is in [42]"
    )
    (notice,) = [n for n in result.notices if n.reason == "Restarted"]
    assert notice.message.startswith("Container restarted (RestartRule): exit code 42 matched")


def test_an_exit_no_rule_matches_under_restart_policy_never_ends_the_pod() -> None:
    ended = lesson_pod(
        restarts=1,
        last_terminated=exit_with(42),
        state={"terminated": {**exit_with(1, c=1), "message": journal(
            {"c": 0, "cause": "crash", "at": "2026-11-30T10:00:30.000Z", "code": 42},
            {"c": 1, "cause": "crash", "at": "2026-11-30T10:01:00.000Z", "code": 1})}},
        ready=False,
    )  # fmt: skip
    ended["status"]["phase"] = "Failed"
    result = run(pods=[ended], spec=podspec.effective(LESSON))
    status = result.status
    assert status["phase"] == "Ended"
    assert (status["restarts"], status["restartReasons"]) == (1, {"RestartRule": 1})
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "PodEnded")
    message = conditions["Healthy"]["message"]
    assert message.startswith(
        "Pod demo-webapp has ended (Failed): the container exited with code 1;"
    )
    assert (
        "restartPolicy Never restarts no exit with code 1, and no restart rule matched it"
        in message
    )
    assert "The Pod is kept as it ended, for inspection" in message
    (notice,) = [n for n in result.notices if n.reason == "PodEnded"]
    assert notice.type == "Warning" and notice.message == message
    # Said once: the next write of the same state posts nothing more.
    again = run(result.status, pods=[ended], spec=podspec.effective(LESSON))
    assert [n for n in again.notices if n.reason == "PodEnded"] == []


def test_a_cluster_that_dropped_the_rules_is_told_by_the_pod_it_would_store() -> None:
    wanted = build(LESSON)
    assert [f.gate for f in features.asked(wanted)] == ["ContainerRestartRules"]
    assert features.asked(build()) == []  # nothing to ask the server about
    assert features.dropped(wanted, wanted) is None
    stripped = json.loads(json.dumps(wanted))
    del container(stripped)["restartPolicy"], container(stripped)["restartPolicyRules"]
    message = features.dropped(wanted, stripped)
    assert message is not None
    assert message.startswith(
        "spec.restartPolicyRules needs the feature gate ContainerRestartRules (beta and on by "
        "default since Kubernetes 1.35)"
    )
    assert "this API server dropped it from the Pod" in message


def test_the_pod_view_reads_what_decides_a_restart() -> None:
    view = pod_view(lesson_pod())
    assert view.restart_policy == "Never"
    assert [r.values for r in view.restart_rules] == [(42,)]
    assert pod_view(pod()).restart_policy == "Always"
