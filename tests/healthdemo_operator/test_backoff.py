"""CrashLoopBackOff, as the kubelet schedules it: each restart's measured wait next to the node's
schedule, from a crash loop's Pod statuses alone (pure)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from healthdemo_operator import podspec
from healthdemo_operator.kubelet import backoff
from healthdemo_operator.observations import pod_view
from healthdemo_operator.status.record import record

from .kubelet_data import NODE, pod
from .test_recording import T0, at

SPEC = podspec.effective({"crashAfterSeconds": 2})
TEST_NODE = backoff.Policy(initial=10.0, cap=40.0, known=True, source="test")


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def crashed(restarts: int, ended: float, started: float, lived: float = 2) -> dict[str, Any]:
    """The Pod after restart `restarts`: the previous container ran `lived` s and ended at
    `ended`; the new one started at `started`."""
    return pod(
        restarts=restarts,
        last_terminated={"exitCode": 1, "reason": "Error", "startedAt": stamp(ended - lived),
                         "finishedAt": stamp(ended), "containerID": f"containerd://c{restarts}"},
        state={"running": {"startedAt": stamp(started)}},
        ready_since=stamp(started + 1),
    )  # fmt: skip


def loop(steps: list[dict[str, Any]], policy: backoff.Policy = TEST_NODE) -> list[dict[str, Any]]:
    """Record each Pod status in turn, as the operator would see them; the history, oldest first."""
    status: dict[str, Any] = {}
    for n, raw in enumerate(steps):
        status = record(previous=status, spec=SPEC, generation=1, pod_name="demo-webapp",
                        pods=[pod_view(raw)], events=[], backoffs={NODE: policy}, problem=None,
                        now=at(1000 + n)).status  # fmt: skip
    return list(reversed(status["history"]))


def test_each_wait_doubles_up_to_the_nodes_cap() -> None:
    # Ends at 2, 14, 36, 78, 120; the kubelet restarted at once, then after 10, 20, 40, 40 s.
    history = loop([crashed(1, 2, 2.5), crashed(2, 4.5, 14.5), crashed(3, 16.5, 37),
                    crashed(4, 39, 79), crashed(5, 81, 121)])  # fmt: skip
    assert [h["expectedBackOffSeconds"] for h in history] == [0.0, 10.0, 20.0, 40.0, 40.0]
    # Timestamps have whole seconds (the kubelet's): the measured waits, to the second.
    assert [h["backOffSeconds"] for h in history] == [0.0, 10.0, 21.0, 40.0, 40.0]


def test_a_container_that_ran_ten_minutes_starts_the_schedule_over() -> None:
    history = loop([crashed(1, 2, 2), crashed(2, 4, 14), crashed(3, 700, 700, lived=686),
                    crashed(4, 702, 712)])  # fmt: skip
    assert [h["expectedBackOffSeconds"] for h in history] == [0.0, 10.0, 0.0, 10.0]


def test_restarts_seen_together_leave_the_schedule_unknown_until_it_starts_over() -> None:
    two_at_once = crashed(3, 16, 36)  # restarts 2 and 3 seen in one status
    history = loop([crashed(1, 2, 2), two_at_once, crashed(4, 38, 78)])
    assert [h.get("expectedBackOffSeconds") for h in history] == [0.0, None, None, None]
    assert history[2]["backOffSeconds"] == 20.0  # measured all the same: the newest only
    assert "backOffSeconds" not in history[1]  # the kubelet keeps no times of the skipped one


def test_the_schedule_in_the_status_says_where_it_comes_from() -> None:
    status = record(previous={}, spec=SPEC, generation=1, pod_name="demo-webapp",
                    pods=[pod_view(pod())], events=[], backoffs={NODE: TEST_NODE}, problem=None,
                    now=at(60)).status  # fmt: skip
    assert status["expected"]["backOff"] == {"initialSeconds": 10.0, "maxSeconds": 40.0,
                                             "resetAfterSeconds": 600.0, "fromNode": True,
                                             "source": "test"}  # fmt: skip
    unknown = record(previous={}, spec=SPEC, generation=1, pod_name="demo-webapp",
                     pods=[pod_view(pod())], events=[], problem=None, now=at(60))  # fmt: skip
    assert unknown.status["expected"]["backOff"]["fromNode"] is False


def capped(period: str, **gates: bool) -> dict[str, Any]:
    config = {"crashLoopBackOff": {"maxContainerRestartPeriod": period}, "featureGates": gates}
    return {"kubeletconfig": config}


@pytest.mark.parametrize(
    ("configz", "initial", "cap"),
    [
        ({"kubeletconfig": {}}, 10.0, 300.0),
        (capped("2s"), 2.0, 2.0),
        (capped("1m30s"), 10.0, 90.0),
        ({"kubeletconfig": {"featureGates": {"ReduceDefaultCrashLoopBackOffDecay": True}}}, 1, 60),
        (capped("2s", KubeletCrashLoopBackOffMax=False), 10.0, 300.0),
    ],
)
def test_the_nodes_schedule_from_its_kubelet_configuration(
    configz: dict[str, Any], initial: float, cap: float
) -> None:
    policy = backoff.policy_of(configz, "n1")
    assert (policy.initial, policy.cap, policy.known) == (initial, cap, True)
    assert policy.source == "the kubelet of node n1 (/configz)"


def test_go_durations() -> None:
    assert backoff.duration("300ms") == 0.3
    assert backoff.duration("1h2m3s") == 3723.0
    assert backoff.duration("2x") is None
    assert backoff.duration("") is None


def test_a_crash_after_a_probe_kill_restarts_at_once() -> None:
    """The kubelet restarts a container it killed for its liveness probe in the same sync, with
    no back-off and nothing on its schedule: the first crash after that restarts at once too
    (measured on the real node: a sidecar's crash after its liveness kill waited 0 s)."""
    exits = [{"c": 0, "cause": "sigterm", "at": stamp(2)}]
    killed = crashed(1, 2, 3)
    killed["status"]["containerStatuses"][0]["lastState"]["terminated"].update(
        exitCode=0, reason="Completed", message=journal(2, exits)
    )
    exits = [*exits, {"c": 1, "cause": "crash", "code": 1, "at": stamp(6)}]
    crash = crashed(2, 6, 6)
    crash["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] = journal(
        3, exits
    )
    history = loop([killed, crash, crashed(3, 8, 18)])
    assert [h["reason"] for h in history] == ["LivenessProbe", "Crash", "Crash"]
    assert [h["expectedBackOffSeconds"] for h in history] == [0.0, 0.0, 10.0]


def journal(containers: int, exits: list[dict[str, Any]]) -> str:
    body = {"containers": containers, "livenessFailures": 3, "exits": exits}
    return "healthdemo-journal/v1 " + json.dumps(body)
