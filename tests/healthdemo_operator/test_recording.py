"""Status from Pod + Events, with kubelet-shaped data: counting, attribution, dedupe, phases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from healthdemo_operator import podspec
from healthdemo_operator.observations import event_view, pod_view, readiness_of
from healthdemo_operator.status import status as history
from healthdemo_operator.status.phase import Problem
from healthdemo_operator.status.record import record
from healthdemo_operator.status.recording import Recording

from .kubelet_data import (
    BACKOFF,
    KILLING_LIVENESS,
    KILLING_STOP,
    LIVENESS_500,
    LIVENESS_TIMEOUT,
    READINESS_503,
    event,
    liveness_kill_termination,
    pod,
)

SPEC = podspec.effective({"livenessProbe": {"periodSeconds": 10, "failureThreshold": 3}})
T0 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(
    previous: dict[str, Any] | None = None,
    *,
    pods: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    now: datetime | None = None,
    problem: Problem | None = None,
    spec: dict[str, Any] | None = None,
) -> Recording:
    return record(
        previous=previous or {},
        spec=spec or SPEC,
        generation=1,
        pod_name="demo-webapp",
        pods=[pod_view(p) for p in (pods if pods is not None else [pod()])],
        events=[event_view(e) for e in events or []],
        problem=problem,
        now=now or at(60),
    )


def failures(
    count: int, last: str = "2026-11-30T10:00:34Z", uid: str = "ev-unhealthy"
) -> dict[str, Any]:
    return event(uid=uid, reason="Unhealthy", message=LIVENESS_500, count=count, last=last)


def killing(last: str = "2026-11-30T10:00:34Z", count: int = 1) -> dict[str, Any]:
    return event(
        uid="ev-killing",
        reason="Killing",
        message=KILLING_LIVENESS,
        count=count,
        first="2026-11-30T10:00:34Z",
        last=last,
        event_type="Normal",
    )


def restarted_pod(**overrides: Any) -> dict[str, Any]:
    """The Pod after one liveness restart; the new container became ready at 10:00:37."""
    values: dict[str, Any] = {
        "restarts": 1,
        "last_terminated": liveness_kill_termination(),
        "state": {"running": {"startedAt": "2026-11-30T10:00:36Z"}},
        "ready_since": "2026-11-30T10:00:37Z",
        "container_id": "containerd://c2",
    }
    values.update(overrides)
    return pod(**values)


def test_healthy_pod() -> None:
    result = run()
    status = result.status
    assert status["phase"] == "Running"
    assert status["podName"] == "demo-webapp"
    assert status["restarts"] == 0
    assert status["probeFailures"] == 0
    assert status["history"] == []
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Healthy"]["status"] == "True"
    assert conditions["Healthy"]["observedGeneration"] == 1
    assert status["observedGeneration"] == 1
    assert result.notices == []


def test_failing_below_threshold() -> None:
    result = run(events=[failures(2, last="2026-11-30T10:00:24Z")], now=at(25))
    status = result.status
    assert status["probeFailures"] == 2
    assert status["phase"] == "Failing"
    assert status["lastProbeFailureMessage"] == LIVENESS_500
    assert status["lastProbeFailureTime"] == "2026-11-30T10:00:24Z"
    healthy = {c["type"]: c for c in status["conditions"]}["Healthy"]
    assert healthy == healthy | {"status": "False", "reason": "LivenessProbeFailing"}
    assert healthy["message"] == LIVENESS_500
    # The episode began with the first of the two failures, one period earlier.
    assert status["accounting"]["episode"]["start"] == "2026-11-30T10:00:14Z"
    assert [n.reason for n in result.notices] == ["LivenessProbeFailing"]
    assert result.recheck_after is not None
    assert 0 < result.recheck_after <= 21


def test_failing_decays_to_running_without_a_restart() -> None:
    """fail-next with N < failureThreshold: failures, no restart, healthy again."""
    first = run(events=[failures(2, last="2026-11-30T10:00:24Z")], now=at(25))
    later = run(first.status, events=[failures(2, last="2026-11-30T10:00:24Z")], now=at(60))
    assert later.status["phase"] == "Running"
    assert later.status["probeFailures"] == 2
    assert later.status["restarts"] == 0
    assert later.notices == []


def test_liveness_restart_is_recorded_once_with_its_episode() -> None:
    events = [failures(3), killing()]
    result = run(pods=[restarted_pod()], events=events)
    status = result.status
    assert status["restarts"] == 1
    assert status["probeFailures"] == 3
    assert status["lastRestartReason"] == "LivenessProbe"
    assert status["lastRestartTime"] == "2026-11-30T10:00:35Z"
    (item,) = status["history"]
    assert item == {
        "time": "2026-11-30T10:00:35Z",
        "reason": "LivenessProbe",
        "exitCode": 0,
        "probeFailures": 3,
        "failingSince": "2026-11-30T10:00:14Z",
        "recoverySeconds": 23.0,  # 10:00:14 first failure → 10:00:37 ready
        "podName": "demo-webapp",
        "containerID": "containerd://c1",
        "restart": 1,
        "evidence": "KillingEvent",  # no journal in this container: the kubelet's Event tells
        # The first restart comes at once (the kubelet's back-off starts after it): ended at
        # :35, the new container started at :36.
        "backOffSeconds": 1.0,
        "expectedBackOffSeconds": 0.0,
    }
    assert status["restartReasons"] == {"LivenessProbe": 1}
    assert status["accounting"]["episode"] is None
    assert status["phase"] == "Running"
    assert [n.reason for n in result.notices] == ["LivenessProbeFailing", "Restarted"]
    assert "after 3 liveness probe failure(s); restarts now 1" in result.notices[1].message

    again = run(status, pods=[restarted_pod()], events=events, now=at(90))
    assert again.status == status  # nothing new observed: nothing changes, nothing to patch
    assert again.notices == []


def test_restart_seen_before_the_container_is_ready_gets_recovery_later() -> None:
    events = [failures(3), killing()]
    waiting = restarted_pod(
        state={"waiting": {"reason": "ContainerCreating"}}, ready=False, container_id=""
    )
    first = run(pods=[waiting], events=events, now=at(36))
    assert first.status["phase"] == "Restarting"
    assert first.status["history"][0]["recoverySeconds"] is None
    healed = run(first.status, pods=[restarted_pod()], events=events, now=at(38))
    assert healed.status["history"][0]["recoverySeconds"] == 23.0
    assert healed.status["phase"] == "Running"
    assert healed.status["restarts"] == 1


def test_aggregated_count_jump_counts_the_difference() -> None:
    first = run(events=[failures(3, last="2026-11-30T10:00:34Z")], now=at(34))
    # The spam filter held some back; the next update jumps from 3 to 7.
    jumped = run(first.status, events=[failures(7, last="2026-11-30T10:01:14Z")], now=at(75))
    assert jumped.status["probeFailures"] == 7


def test_operator_restart_neither_double_counts_nor_loses() -> None:
    """A new operator process starts from the status it wrote before (the ledger is in it)."""
    events = [failures(3), killing()]
    before_crash = run(pods=[restarted_pod()], events=events).status
    # Meanwhile: two more failures and a second restart happened while the operator was down.
    more = [failures(6, last="2026-11-30T10:01:10Z"), killing(last="2026-11-30T10:01:10Z", count=2)]
    second = restarted_pod(
        restarts=2,
        last_terminated=liveness_kill_termination(
            started="2026-11-30T10:00:36Z",
            finished="2026-11-30T10:01:11Z",
            container_id="containerd://c2",
        ),
        container_id="containerd://c3",
        state={"running": {"startedAt": "2026-11-30T10:01:12Z"}},
        ready_since="2026-11-30T10:01:13Z",
    )
    after = run(before_crash, pods=[second], events=more, now=at(80)).status
    assert after["restarts"] == 2
    assert after["probeFailures"] == 6
    assert [h["containerID"] for h in after["history"]] == ["containerd://c2", "containerd://c1"]
    assert after["history"][0]["probeFailures"] == 3
    # 3 new failures up to 10:01:10, period 10 s: the first was at 10:00:50; ready at 10:01:13.
    assert after["history"][0]["recoverySeconds"] == 23.0
    # And replaying the same observations again changes nothing.
    assert run(after, pods=[second], events=more, now=at(81)).status == after


def test_restarts_add_up_across_pod_replacements() -> None:
    old = restarted_pod(restarts=2, uid="pod-old", name="demo-webapp")
    first = run(pods=[old], events=[]).status
    assert first["restarts"] == 2
    new = pod(
        uid="pod-new",
        restarts=1,
        last_terminated={"exitCode": 1, "reason": "Error"},
        created="2026-11-30T10:05:00Z",
    )
    # The old Pod is gone (replaced after a spec change): its restarts stay counted.
    second = run(first, pods=[new], now=at(400)).status
    assert second["restarts"] == 3
    assert set(second["accounting"]["pods"]) == {"pod-old", "pod-new"}
    # Its ledger entry is forgotten only after an hour, when no stale view can come back.
    third = run(second, pods=[new], now=at(400 + 3700)).status
    assert set(third["accounting"]["pods"]) == {"pod-new"}
    assert third["restarts"] == 3


def test_crash_is_attributed_from_the_exit_code() -> None:
    crashed = pod(
        restarts=1,
        last_terminated={
            "exitCode": 1,
            "reason": "Error",
            "startedAt": "2026-11-30T10:00:04Z",
            "finishedAt": "2026-11-30T10:00:30Z",
            "containerID": "containerd://c1",
        },
        ready_since="2026-11-30T10:00:32Z",
    )
    status = run(pods=[crashed]).status
    assert status["lastRestartReason"] == "Crash"
    (item,) = status["history"]
    assert item["exitCode"] == 1
    assert item["probeFailures"] == 0
    assert item["recoverySeconds"] == 2.0  # crash at :30 → ready at :32


def test_oom_kill() -> None:
    oom = pod(restarts=1, last_terminated={"exitCode": 137, "reason": "OOMKilled"})
    assert run(pods=[oom]).status["lastRestartReason"] == "OOMKilled"


def test_a_stop_killing_event_is_not_a_liveness_kill() -> None:
    stopped = event(
        uid="ev-stop", reason="Killing", message=KILLING_STOP, last="2026-11-30T10:00:34Z"
    )
    exited = restarted_pod()
    # Exit code 0 and no liveness kill, with the kubelet's Events still complete: it exited.
    assert run(pods=[exited], events=[stopped]).status["lastRestartReason"] == "Exited"


def test_killing_event_arriving_after_the_pod_status_reattributes() -> None:
    early = run(pods=[restarted_pod()], events=[failures(3)])
    assert early.status["lastRestartReason"] == "Exited"
    late = run(early.status, pods=[restarted_pod()], events=[failures(3), killing()], now=at(61))
    assert late.status["lastRestartReason"] == "LivenessProbe"
    assert late.status["history"][0]["reason"] == "LivenessProbe"
    assert late.status["history"][0]["probeFailures"] == 3
    assert late.status["restarts"] == 1
    assert late.status["restartReasons"] == {"LivenessProbe": 1}


def test_several_restarts_seen_at_once() -> None:
    status = run(pods=[restarted_pod(restarts=3)], events=[failures(9), killing(count=3)]).status
    assert status["restarts"] == 3
    # One item per restart; only the newest has the runtime's details (time, exit code).
    assert [(h["restart"], h["reason"]) for h in status["history"]] == [
        (3, "LivenessProbe"),
        (2, "LivenessProbe"),
        (1, "LivenessProbe"),
    ]
    assert [h["time"] for h in status["history"]] == ["2026-11-30T10:00:35Z", None, None]
    assert status["restartReasons"] == {"LivenessProbe": 3}


def test_history_keeps_the_last_ten_newest_first() -> None:
    status: dict[str, Any] = {}
    for n in range(1, 13):
        crashed = pod(
            restarts=n,
            last_terminated={
                "exitCode": 1,
                "reason": "Error",
                "finishedAt": f"2026-11-30T10:{n:02d}:00Z",
                "containerID": f"containerd://c{n}",
            },
        )
        status = run(status, pods=[crashed], now=at(60 * n + 1)).status
    assert status["restarts"] == 12
    assert len(status["history"]) == 10
    assert status["history"][0]["containerID"] == "containerd://c12"
    assert status["history"][-1]["containerID"] == "containerd://c3"


def test_crash_loop_back_off() -> None:
    looping = pod(
        restarts=3,
        state={
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": "back-off 40s restarting failed container=webapp pod=demo-webapp_x",
            }
        },
        last_terminated={"exitCode": 1, "reason": "Error"},
        ready=False,
    )
    backoff = event(uid="ev-backoff", reason="BackOff", message=BACKOFF, count=3)
    result = run(pods=[looping], events=[backoff])
    assert result.status["phase"] == "CrashLoopBackOff"
    assert "CrashLoopBackOff" in [n.reason for n in result.notices]
    assert run(result.status, pods=[looping], events=[backoff]).notices == []


def test_image_pull_error_tells_the_fix() -> None:
    pulling = pod(
        state={
            "waiting": {
                "reason": "ErrImagePull",
                "message": 'failed to pull image "docker.io/library/flask-webapp:latest"',
            }
        },
        ready=False,
    )
    result = run(pods=[pulling])
    assert result.status["phase"] == "ImagePullError"
    healthy = {c["type"]: c for c in result.status["conditions"]}["Healthy"]
    assert healthy["reason"] == "ImagePullError"
    assert "minikube image build -t flask-webapp:latest ." in healthy["message"]
    assert "kind load docker-image flask-webapp:latest" in healthy["message"]
    assert [n.reason for n in result.notices] == ["ImagePullError"]
    backoff = pod(
        state={"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}, ready=False
    )
    assert run(result.status, pods=[backoff]).status["phase"] == "ImagePullError"


def test_readiness_failures_are_not_liveness_failures() -> None:
    not_ready = pod(ready=False)
    unready = event(uid="ev-ready", reason="Unhealthy", message=READINESS_503, count=5)
    status = run(pods=[not_ready], events=[unready]).status
    assert status["probeFailures"] == 0
    assert status["phase"] == "Running"
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "False", "Healthy": "True", "CountsComplete": "True"}


def test_different_failure_messages_are_separate_events() -> None:
    timeout = event(
        uid="ev-timeout",
        reason="Unhealthy",
        message=LIVENESS_TIMEOUT,
        count=2,
        last="2026-11-30T10:00:24Z",
    )
    status = run(events=[failures(1, last="2026-11-30T10:00:14Z"), timeout], now=at(25)).status
    assert status["probeFailures"] == 3
    assert status["lastProbeFailureMessage"] == LIVENESS_TIMEOUT
    assert status["accounting"]["episode"]["failures"] == 3


def test_expired_events_leave_the_ledger_after_two_hours() -> None:
    first = run(events=[failures(2, last="2026-11-30T10:00:24Z")], now=at(25)).status
    assert "ev-unhealthy" in first["accounting"]["events"]
    # After the Event's 1 h TTL it is gone from the API; the ledger keeps it another hour.
    hour = run(first, events=[], now=at(3700)).status
    assert "ev-unhealthy" in hour["accounting"]["events"]
    later = run(hour, events=[], now=at(7300)).status
    assert later["accounting"]["events"] == {}
    assert later["probeFailures"] == 2


def test_invalid_input() -> None:
    result = run(pods=[], problem=Problem("InvalidSpec", "spec.image 'X' is not valid"))
    assert result.status["phase"] == "Invalid"
    ready = {c["type"]: c for c in result.status["conditions"]}["Ready"]
    assert ready["reason"] == "InvalidSpec"
    assert ready["message"] == "spec.image 'X' is not valid"
    assert [(n.type, n.reason) for n in result.notices] == [("Warning", "InvalidSpec")]


def test_no_pod_yet() -> None:
    status = run(pods=[]).status
    assert status["phase"] == "Pending"
    assert status["podName"] == "demo-webapp"


def test_condition_transition_time_moves_only_on_change() -> None:
    first = run(now=at(10)).status
    second = run(first, now=at(20)).status
    assert second["conditions"] == first["conditions"]
    failing = run(second, events=[failures(1, last="2026-11-30T10:00:29Z")], now=at(30)).status
    healthy = {c["type"]: c for c in failing["conditions"]}["Healthy"]
    assert healthy["lastTransitionTime"] == "2026-11-30T10:00:30Z"


def test_a_crash_after_an_earlier_liveness_kill_is_a_crash() -> None:
    """The Killing Event of the first restart stays around (and its time is close to the new
    container's start): it must not be paired with the next, unrelated crash."""
    events = [failures(3), killing()]
    first = run(pods=[restarted_pod()], events=events).status
    crashed = restarted_pod(
        restarts=2,
        last_terminated={
            "exitCode": 1,
            "reason": "Error",
            "startedAt": "2026-11-30T10:00:36Z",
            "finishedAt": "2026-11-30T10:00:37Z",
            "containerID": "containerd://c2",
        },
        container_id="containerd://c3",
    )
    second = run(first, pods=[crashed], events=events, now=at(61)).status
    assert [h["reason"] for h in second["history"]] == ["Crash", "LivenessProbe"]
    assert second["restarts"] == 2


def test_a_kill_of_the_new_container_does_not_rewrite_the_last_crash() -> None:
    crashed = pod(
        restarts=1,
        last_terminated={
            "exitCode": 1,
            "reason": "Error",
            "startedAt": "2026-11-30T10:00:04Z",
            "finishedAt": "2026-11-30T10:00:30Z",
            "containerID": "containerd://c1",
        },
    )
    first = run(pods=[crashed]).status
    # 20 s later the new container fails its probe and is killed; its restart is not seen yet.
    later = run(first, pods=[crashed], events=[killing(last="2026-11-30T10:00:50Z")], now=at(51))
    assert later.status["history"][0]["reason"] == "Crash"


def test_combined_events_still_count() -> None:
    """More than 10 similar Events in 10 minutes: client-go prefixes the message."""
    combined = event(
        uid="ev-combined",
        reason="Unhealthy",
        message="(combined from similar events): " + LIVENESS_TIMEOUT,
        count=4,
        last="2026-11-30T10:00:24Z",
    )
    status = run(events=[combined], now=at(25)).status
    assert status["probeFailures"] == 4
    assert status["lastProbeFailureMessage"] == LIVENESS_TIMEOUT


def test_readiness_and_startup_failures_are_counted_apart_and_once() -> None:
    unready = event(uid="ev-ready", reason="Unhealthy", message=READINESS_503, count=5)
    starting = event(
        uid="ev-start",
        reason="Unhealthy",
        message="Startup probe failed: HTTP probe failed with statuscode: 503",
        count=4,
    )
    first = run(pods=[pod(ready=False)], events=[unready, starting]).status
    assert (first["readinessFailures"], first["startupFailures"]) == (5, 4)
    assert first["probeFailures"] == 0
    # The same Events again, then two more readiness failures: only the new ones are added.
    again = run(first, pods=[pod(ready=False)], events=[unready, starting]).status
    assert (again["readinessFailures"], again["startupFailures"]) == (5, 4)
    unready["count"] = 7
    more = run(again, pods=[pod(ready=False)], events=[unready, starting]).status
    assert (more["readinessFailures"], more["startupFailures"]) == (7, 4)


def test_failures_below_the_threshold_are_told_as_forgiven_once() -> None:
    first = run(events=[failures(2, last="2026-11-30T10:00:24Z")], now=at(25))
    assert "lastForgiven" not in first.status
    later = run(first.status, events=[failures(2, last="2026-11-30T10:00:24Z")], now=at(70))
    assert later.status["lastForgiven"] == {
        "failures": 2,
        "failureThreshold": 3,
        "from": "2026-11-30T10:00:14Z",
        "to": "2026-11-30T10:00:24Z",
    }
    (notice,) = later.notices
    assert notice.reason == "LivenessFailuresForgiven"
    assert notice.message.startswith("2 of 3 liveness probe failures, no restart")
    again = run(later.status, events=[failures(2, last="2026-11-30T10:00:24Z")], now=at(80))
    assert again.notices == []
    assert again.status["restarts"] == 0


def test_a_spell_out_of_service_is_counted_with_its_length() -> None:
    seen_ready = run(pods=[pod(ready_since="2026-11-30T10:00:05Z")], now=at(10)).status
    assert seen_ready["readiness"] == {"outOfService": 0, "outOfServiceSeconds": 0.0}
    out = run(seen_ready, pods=[pod(ready=False, ready_since="2026-11-30T10:00:20Z")], now=at(21))
    assert out.status["readiness"] == {
        "outOfService": 1,
        "outOfServiceSeconds": 0.0,
        "notReadySince": "2026-11-30T10:00:20Z",
    }
    back = run(out.status, pods=[pod(ready_since="2026-11-30T10:00:26.5Z")], now=at(30)).status
    assert back["readiness"] == {
        "outOfService": 1,
        "outOfServiceSeconds": 6.5,
        "lastOutOfServiceSeconds": 6.5,
    }
    assert back["restarts"] == 0


def test_a_spell_out_of_service_while_away_is_counted_and_marked_unexact() -> None:
    seen_ready = run(pods=[pod(ready_since="2026-11-30T10:00:05Z")], now=at(10)).status
    later = run(seen_ready, pods=[pod(ready_since="2026-11-30T10:00:40Z")], now=at(60)).status
    assert later["readiness"]["outOfService"] == 1
    assert later["readiness"]["outOfServiceSeconds"] == 0.0  # its length is unknown
    counts = next(c for c in later["conditions"] if c["type"] == "CountsComplete")
    assert counts["status"] == "False"
    assert "left service and came back" in counts["message"]


def test_a_spell_between_two_reconciles_is_measured_from_the_states_the_watch_showed() -> None:
    """A reconcile sees only the newest Pod; the states the watch showed in between, in order,
    make a short spell as exact as a long one (no gap, its length known)."""
    seen_ready = run(pods=[pod(ready_since="2026-11-30T10:00:05Z")], now=at(10)).status
    out, back = (pod_view(pod(ready=False, ready_since="2026-11-30T10:00:20Z")),
                 pod_view(pod(ready_since="2026-11-30T10:00:22.5Z")))  # fmt: skip
    shown = [readiness_of(out), readiness_of(back)]
    later = record(
        previous=seen_ready, spec=SPEC, generation=1, pod_name="demo-webapp", pods=[back],
        events=[], ready_seen={back.uid: shown}, problem=None, now=at(30),
    ).status  # fmt: skip
    assert later["readiness"] == {
        "outOfService": 1,
        "outOfServiceSeconds": 2.5,
        "lastOutOfServiceSeconds": 2.5,
    }
    counts = next(c for c in later["conditions"] if c["type"] == "CountsComplete")
    assert counts["status"] == "True"


def test_an_event_reads_the_same_through_either_events_api() -> None:
    """A kubelet Event about the Pod as a whole reaches us through events.k8s.io/v1 (its own
    field selectors): other names, the same Event."""
    core = event(uid="ev-sandbox", reason="SandboxChanged", message="Pod sandbox changed",
                 count=2, last="2026-11-30T10:00:34Z", event_type="Normal")  # fmt: skip
    del core["involvedObject"]["fieldPath"]  # about the Pod, not a container
    newer = {
        "metadata": core["metadata"],
        "regarding": core["involvedObject"],
        "reason": core["reason"],
        "note": core["message"],
        "type": "Normal",
        "deprecatedCount": 2,
        "deprecatedFirstTimestamp": core["firstTimestamp"],
        "deprecatedLastTimestamp": core["lastTimestamp"],
        "reportingController": "kubelet",
    }
    assert event_view(newer) == event_view(core)


# -- the recovery histogram (status.recovery, served as healthdemo_recovery_seconds) ----------


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def buckets(**counts: int) -> dict[str, int]:
    """Every bound of the histogram, 0 unless given (b2_5=1 is the bucket "2.5")."""
    given = {key.removeprefix("b").replace("_", "."): n for key, n in counts.items()}
    return {f"{bound:g}": given.get(f"{bound:g}", 0) for bound in history.RECOVERY_BUCKETS}


def test_a_recovery_is_added_to_the_histogram_once_when_it_becomes_known() -> None:
    events = [failures(3), killing()]
    waiting = restarted_pod(
        state={"waiting": {"reason": "ContainerCreating"}}, ready=False, container_id=""
    )
    restarting = run(pods=[waiting], events=events, now=at(36)).status
    assert "recovery" not in restarting  # not known yet
    healed = run(restarting, pods=[restarted_pod()], events=events, now=at(38)).status
    assert healed["history"][0]["recoverySeconds"] == 23.0
    expected = {"count": 1, "sumSeconds": 23.0, "buckets": buckets(b30=1, b60=1, b120=1,
                                                                      b300=1, b600=1)}  # fmt: skip
    assert healed["recovery"] == expected
    # Seen again, by this process or by a restarted one (the status through JSON): not again.
    again = run(healed, pods=[restarted_pod()], events=events, now=at(40)).status
    assert again == healed
    restarted = json.loads(json.dumps(healed))
    assert run(restarted, pods=[restarted_pod()], events=events, now=at(90)).status == restarted


def test_the_recovery_histogram_keeps_every_restart_the_history_lets_go() -> None:
    """History keeps 10 items; the histogram counts all 12 recoveries, each once."""
    status: dict[str, Any] = {}
    for n in range(1, 13):
        finished = T0 + timedelta(minutes=n)
        crashed = pod(
            restarts=n,
            last_terminated={
                "exitCode": 1,
                "reason": "Error",
                "finishedAt": stamp(finished),
                "containerID": f"containerd://c{n}",
            },
            state={"running": {"startedAt": stamp(finished + timedelta(seconds=1))}},
            ready_since=stamp(finished + timedelta(seconds=n)),  # n seconds to recover
            container_id=f"containerd://c{n + 1}",
        )
        status = run(status, pods=[crashed], now=finished + timedelta(seconds=n + 1)).status
        status = run(status, pods=[crashed], now=finished + timedelta(seconds=n + 2)).status
    assert status["restarts"] == 12
    assert len(status["history"]) == 10
    assert [h["recoverySeconds"] for h in status["history"]] == [float(n) for n in range(12, 2, -1)]
    assert status["recovery"] == {
        "count": 12,
        "sumSeconds": 78.0,  # 1 + 2 + ... + 12
        "buckets": buckets(b1=1, b2_5=2, b5=5, b10=10, b20=12, b30=12, b60=12, b120=12, b300=12,
                           b600=12),
    }  # fmt: skip


def test_a_ready_condition_that_never_flipped_is_not_a_recovery() -> None:
    """Ready since a second before the kill (whole-second timestamps) and never False since:
    the recovery is the new container's start, not that older transition."""
    result = run(pods=[restarted_pod(ready_since="2026-11-30T10:00:34Z")])
    (item,) = result.status["history"]
    assert item["time"] == "2026-11-30T10:00:35Z"
    assert item["recoverySeconds"] == 1.0  # ended 10:00:35, the new container ran at 10:00:36


def test_a_view_older_than_a_state_already_followed_makes_no_spell() -> None:
    """A reconcile's Pod view taken before a newer Ready state the watch showed: followed after
    it, the older view (not ready, an earlier transition) is no spell out of service."""
    starting = run(pods=[pod(ready=False, ready_since="2026-11-30T10:00:04Z")], now=at(4)).status
    ready = pod_view(pod(ready_since="2026-11-30T10:00:05Z"))
    stale = pod_view(pod(ready=False, ready_since="2026-11-30T10:00:04Z"))
    later = record(
        previous=starting, spec=SPEC, generation=1, pod_name="demo-webapp", pods=[stale],
        events=[], ready_seen={stale.uid: [readiness_of(ready)]}, problem=None, now=at(6),
    ).status  # fmt: skip
    assert later["readiness"]["outOfService"] == 0
    then = run(later, pods=[pod(ready_since="2026-11-30T10:00:05Z")], now=at(8)).status
    assert then["readiness"] == {"outOfService": 0, "outOfServiceSeconds": 0.0}
