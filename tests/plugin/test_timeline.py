"""The timeline model: status + Events → rows (pure), and its drawing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubectl_healthdemo import render, timeline
from rich.console import Console

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def kubelet_event(
    reason: str, message: str, first: float, last: float | None = None, count: int = 1
) -> dict[str, Any]:
    """A core/v1 Event as the 1.34 kubelet's recorder writes (and the API server aggregates)."""
    return {
        "metadata": {"name": f"demo-webapp.{reason}{first}", "uid": f"uid-{reason}-{first}"},
        "involvedObject": {
            "kind": "Pod",
            "name": "demo-webapp",
            "fieldPath": "spec.containers{webapp}",
        },
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": at(first),
        "lastTimestamp": at(first if last is None else last),
        "count": count,
        "type": "Warning" if reason == "Unhealthy" else "Normal",
    }


def operator_event(reason: str, message: str, when: float) -> dict[str, Any]:
    return {
        "metadata": {"name": f"demo.{reason}", "uid": f"uid-op-{reason}"},
        "involvedObject": {"kind": "HealthDemo", "name": "demo"},
        "reason": reason,
        "message": message,
        "source": {"component": "healthdemo-operator"},
        "firstTimestamp": at(when),
        "lastTimestamp": at(when),
        "count": 1,
        "type": "Normal",
    }


LIVENESS_KILL = {
    "time": at(14.3),
    "reason": "LivenessProbe",
    "exitCode": 0,
    "probeFailures": 3,
    "failingSince": at(10.2),
    "measuredSeconds": 4.1,
    "expectedSeconds": 4,
    "recoverySeconds": 7.0,
    "podName": "demo-webapp",
    "restart": 1,
    "evidence": "Journal",
}
EXPECTED = {
    "liveness": {"firstFailureToActSeconds": 4, "breakToActMaxSeconds": 6, "hangAddsSeconds": 1},
}


def healthdemo(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "demo",
            "namespace": "default",
            "creationTimestamp": at(-5),
            "generation": 1,
        },
        "spec": {"livenessProbe": {"periodSeconds": 2, "failureThreshold": 3, "timeoutSeconds": 1}},
        "status": {
            "podName": "demo-webapp",
            "phase": "Running",
            "restarts": 1,
            "restartReasons": {"LivenessProbe": 1},
            "probeFailures": 3,
            "history": [LIVENESS_KILL],
            "expected": EXPECTED,
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": at(17.4)},
                {"type": "CountsComplete", "status": "True", "lastTransitionTime": at(0)},
            ],
            **status,
        },
    }


SEED_EVENTS = [
    kubelet_event("Pulled", 'Container image "flask-webapp:latest" already present', 0, 15, 2),
    kubelet_event("Created", "Created container: webapp", 0, 15, 2),
    kubelet_event("Started", "Started container webapp", 0, 15, 2),
    kubelet_event(
        "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", 10, 14, 3
    ),
    kubelet_event("Killing", "Container webapp failed liveness probe, will be restarted", 14),
    operator_event(
        "Restarted",
        "Container restarted (LivenessProbe): after 3 liveness probe failure(s); restarts now 1",
        15,
    ),
]


def test_an_aggregated_event_is_told_at_its_first_and_last_time() -> None:
    unhealthy = SEED_EVENTS[3]
    first, last = timeline.event_rows(unhealthy)
    assert (first.at, first.kind, first.what) == (
        T0 + timedelta(seconds=10),
        "failure",
        "liveness probe failed",
    )
    assert first.detail == "HTTP probe failed with statuscode: 500"
    assert (last.at, last.what) == (T0 + timedelta(seconds=14), "liveness probe failed \u00d73")
    assert last.detail.endswith("(3 in all)")
    started, again = timeline.event_rows(SEED_EVENTS[2])
    assert (started.what, again.what) == ("container started", "container started again")


def test_events_k8s_io_style_times() -> None:
    """The scheduler writes events.k8s.io Events: eventTime and series, no first/lastTimestamp."""
    event = {
        "metadata": {"uid": "u", "creationTimestamp": at(0)},
        "involvedObject": {"kind": "Pod", "name": "demo-webapp"},
        "reason": "Scheduled",
        "message": "Successfully assigned default/demo-webapp to node-1",
        "reportingComponent": "default-scheduler",
        "eventTime": "2026-12-01T10:00:00.250000Z",
        "firstTimestamp": None,
        "lastTimestamp": None,
        "series": {"count": 2, "lastObservedTime": "2026-12-01T10:00:03.500000Z"},
    }
    first, last, count = timeline.event_span(event)
    assert (first, last, count) == (
        T0 + timedelta(seconds=0.25),
        T0 + timedelta(seconds=3.5),
        2,
    )
    (row, _) = timeline.event_rows(event)
    assert (row.kind, row.source) == ("scheduled", "scheduler")


def test_quiet_and_unknown_events() -> None:
    assert timeline.event_rows(SEED_EVENTS[0]) == []  # Pulled: every start has one
    normal = kubelet_event("SomethingNew", "hello", 1)
    assert timeline.event_rows(normal) == []
    warning = {**normal, "type": "Warning"}
    (row,) = timeline.event_rows(warning)
    assert (row.kind, row.what) == ("warning", "SomethingNew")


def test_a_liveness_restart_in_the_history_is_three_moments() -> None:
    failure, kill, ready = timeline.history_rows(LIVENESS_KILL)
    assert (failure.kind, failure.at) == ("failure", T0 + timedelta(seconds=10.2))
    assert (kill.kind, kill.what, kill.measured, kill.expected) == (
        "kill",
        "killed: liveness probe",
        4.1,
        4,
    )
    assert kill.detail.endswith("→ restart 1")
    assert (ready.kind, ready.at, ready.measured) == ("ready", T0 + timedelta(seconds=17.2), 7.0)


def test_other_causes_and_lost_details() -> None:
    crash = {"time": at(5), "reason": "Crash", "exitCode": 1, "restart": 2, "recoverySeconds": 1.5}
    (kill, ready) = timeline.history_rows(crash)
    assert (kill.what, kill.detail) == ("crashed", "exit code 1 → restart 2")
    assert ready.at == T0 + timedelta(seconds=6.5)
    assert ready.detail.startswith("1.5 s after the end")
    unknown = {"time": None, "reason": "Unknown", "detail": "gone", "restart": 3}
    assert timeline.history_rows(unknown) == []  # no time left to place it at


def test_one_moment_from_two_witnesses_is_one_row() -> None:
    """The kubelet's Killing Event and the history item of that kill: the Event's words and
    time, the history's measured and expected seconds."""
    story = timeline.build(healthdemo(), SEED_EVENTS)
    kills = [r for r in story.rows if r.kind == "kill"]
    assert len(kills) == 1
    (kill,) = kills
    assert (kill.measured, kill.expected) == (4.1, 4)
    assert kill.source == "kubelet, status"
    assert kill.detail == "Container webapp failed liveness probe, will be restarted"
    assert kill.at == T0 + timedelta(seconds=14)
    # The first failure: the webapp's journal and the kubelet's first Unhealthy Event.
    failures = [r for r in story.rows if r.kind == "failure"]
    assert [f.what for f in failures] == ["liveness failing", "liveness probe failed \u00d73"]
    assert failures[0].source == "kubelet, status"
    # Ready again (history) and the Ready condition (the operator saw it): one row.
    (ready,) = [r for r in story.rows if r.kind == "ready"]
    assert ready.measured == 7.0


def test_a_ready_condition_from_before_the_restart_is_not_ready_again() -> None:
    """The HealthDemo's Ready condition may still carry the first readiness (the operator never
    saw the Pod unready): a moment of its own, not the restart's recovery — which stays where
    its first failure and recovery seconds put it, after the restart."""
    fast = {**LIVENESS_KILL, "time": at(11.3), "measuredSeconds": 1.1, "recoverySeconds": 2.0}
    conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": at(9.5)}]
    story = timeline.build(healthdemo(history=[fast], conditions=conditions), SEED_EVENTS[:3])
    ready = [(r.what, r.at) for r in story.rows if r.kind == "ready"]
    assert ready == [("ready", T0 + timedelta(seconds=9.5)),
                     ("ready again", T0 + timedelta(seconds=12.2))]  # fmt: skip
    times = [r.at for r in story.rows]
    assert times == sorted(times)


def test_the_seed_demo_story_in_order() -> None:
    story = timeline.build(healthdemo(), SEED_EVENTS)
    assert [(r.kind, r.what) for r in story.rows] == [
        ("created", "HealthDemo created"),
        ("started", "container started"),
        ("failure", "liveness failing"),
        ("failure", "liveness probe failed \u00d73"),
        ("kill", "killed: liveness probe"),
        ("restarted", "container started again"),
        ("recorded", "restart recorded"),
        ("ready", "ready again"),
    ]
    times = [r.at for r in story.rows]
    assert times == sorted(times)


def test_two_rows_of_one_witness_never_merge() -> None:
    rows = timeline.event_rows(kubelet_event("Unhealthy", "Liveness probe failed: x", 1, 2, 2))
    assert len(timeline.merge(rows)) == 2


def test_forgiven_failures_and_readiness_spells() -> None:
    story = timeline.build(
        healthdemo(
            history=[],
            restarts=0,
            lastForgiven={"failures": 2, "failureThreshold": 3, "from": at(1), "to": at(3)},
            readiness={"outOfService": 1, "outOfServiceSeconds": 6.0, "notReadySince": at(8)},
        ),
        [
            operator_event(
                "LivenessFailuresForgiven",
                "2 of 3 liveness probe failures, no restart: fewer than failureThreshold in a row",
                4,
            )
        ],
    )
    (forgiven,) = [r for r in story.rows if r.kind == "forgiven"]
    assert forgiven.source == "operator, status"
    assert forgiven.detail.startswith("2 of 3 liveness probe failures")
    (out,) = [r for r in story.rows if r.kind == "not-ready"]
    assert (out.what, out.at) == ("out of service", T0 + timedelta(seconds=8))
    assert story.summary.out_of_service == "out of service 1\u00d7 (6 s in all)"


def test_summary_and_probe_math() -> None:
    summary = timeline.build(healthdemo(), []).summary
    assert (summary.pod, summary.phase, summary.ready, summary.exact) == (
        "demo-webapp",
        "Running",
        True,
        True,
    )
    assert summary.reasons == {"LivenessProbe": 1}
    assert summary.math == (
        "liveness: every 2 s, 3 failures in a row: killed 4 s after the first failure, at most "
        "6 s after the break (a hang adds 1 s a probe)",
    )
    startup = timeline.probe_math(
        {},
        {"startup": {"budgetSeconds": 30, "appStartsInSeconds": 40, "fitsBudget": False,
                     "judgedBy": "livenessProbe"}},
    )  # fmt: skip
    assert startup == (
        "startup: no startup probe: the liveness probe judges the start; a budget of 30 s for "
        "an app that starts in 40 s: does NOT fit: killed while starting",
    )


def test_the_watch_summary_line_says_whether_the_counts_are_exact() -> None:
    """`watch` into a pipe prints this line on each change: a count turning into a lower
    bound is such a change."""
    exact = render.summary_line(timeline.build(healthdemo(), []).summary).plain
    assert exact == (
        "== default/demo: Running, ready, restarts 1, liveness failures 3, counts exact"
    )
    gone = [{"type": "CountsComplete", "status": "False", "reason": "KubeletUnreadable"}]
    lower = render.summary_line(timeline.build(healthdemo(conditions=gone), []).summary).plain
    assert lower.endswith("liveness failures 3, counts are lower bounds")
    fresh = timeline.build({"metadata": {"name": "x", "namespace": "n"}}, []).summary
    assert (
        render.summary_line(fresh).plain == "== n/x: no status yet, restarts 0, liveness failures 0"
    )


def test_a_new_healthdemo_without_status() -> None:
    story = timeline.build({"metadata": {"name": "x", "namespace": "n"}}, [])
    assert story.rows == ()
    assert (story.summary.pod, story.summary.phase, story.summary.exact) == (None, None, None)
    assert "nothing has happened yet" in draw(story)


def draw(story: timeline.Timeline, width: int = 160) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(render.render(story))
    return out.getvalue()


def test_drawn_with_measured_next_to_expected() -> None:
    text = draw(timeline.build(healthdemo(), SEED_EVENTS))
    assert "HealthDemo default/demo" in text
    assert "restarts 1 (LivenessProbe 1)" in text
    assert "counts exact" in text
    (kill_line,) = [line for line in text.splitlines() if "killed: liveness probe" in line]
    assert "4.1 s" in kill_line
    assert "4 s" in kill_line.split("4.1 s", 1)[1]
    assert "kubelet, status" in kill_line
    (ready_line,) = [line for line in text.splitlines() if "ready again" in line]
    assert "7.0 s" in ready_line
    assert "+2.2s" in ready_line  # after the Restarted Event at 15 s, ready at 17.2 s
    assert "status, status" not in text


def test_row_lines_for_a_pipe() -> None:
    story = timeline.build(healthdemo(), SEED_EVENTS)
    kill = next(r for r in story.rows if r.kind == "kill")
    line = render.row_line(kill, story.rows[2]).plain
    assert "killed: liveness probe" in line
    assert "measured 4.1 s, expected 4 s" in line


def test_deltas() -> None:
    assert [render.delta(s) for s in (0.25, 12.4, 192, 7500)] == [
        "+0.2s",
        "+12s",
        "+3m12s",
        "+2h05m",
    ]


RECORDING = Path(__file__).with_name("data") / "seed-demo.json"


def test_a_real_run_of_the_seed_demo() -> None:
    """What docs/make_timeline.py recorded on the real node (deploy/demo-cr.yaml, then
    `kubectl healthdemo break demo`): the HealthDemo and every Event about it and its Pod."""
    recorded = json.loads(RECORDING.read_text())
    item = recorded["healthdemo"]["status"]["history"][0]
    story = timeline.build(recorded["healthdemo"], recorded["events"])
    kinds: list[str] = [r.kind for r in story.rows]
    assert kinds[0] == "created"
    for earlier, later in (("scheduled", "failure"), ("failure", "kill"), ("kill", "ready")):
        assert kinds.index(earlier) < kinds.index(later), kinds
    (kill,) = [r for r in story.rows if r.kind == "kill"]
    assert (kill.measured, kill.expected) == (item["measuredSeconds"], item["expectedSeconds"])
    assert kill.source == "kubelet, status"
    assert kill.detail == "Container webapp failed liveness probe, will be restarted"
    ready = [r for r in story.rows if r.what == "ready again"]
    assert [r.measured for r in ready] == [item["recoverySeconds"]]
    assert "container started again" in [r.what for r in story.rows]
    assert "restart recorded" in [r.what for r in story.rows]
    assert not [r for r in story.rows if "ClusterDNS" in r.what]  # the sandbox's noise
    assert story.summary.exact is True


def test_a_narrow_terminal_puts_source_and_detail_under_what() -> None:
    text = draw(timeline.build(healthdemo(), SEED_EVENTS), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    kill = next(i for i, line in enumerate(lines) if "killed: liveness probe" in line)
    assert "4.1 s" in lines[kill]
    assert lines[kill + 1].strip().startswith("kubelet, status: Container webapp failed")


def test_within_one_second_the_story_order_decides() -> None:
    """Event times have whole seconds: a restart in the second of its kill comes after it, and
    the scheduler's precise time does not put the start before the scheduling."""
    events = [
        kubelet_event("Started", "Started container webapp", 0, 14, 2),
        kubelet_event("Killing", "Container webapp failed liveness probe, will be restarted", 14),
        {
            "metadata": {"uid": "s"},
            "involvedObject": {"kind": "Pod", "name": "demo-webapp"},
            "reason": "Scheduled",
            "message": "Successfully assigned default/demo-webapp to node-1",
            "reportingComponent": "default-scheduler",
            "eventTime": "2026-12-01T10:00:00.900000Z",
        },
    ]
    rows = timeline.build({"metadata": {"name": "demo", "namespace": "default"}}, events).rows
    assert [r.kind for r in rows] == ["scheduled", "started", "kill", "restarted"]
    text = draw(timeline.Timeline(timeline.summary_of({}), rows))
    assert "+-" not in text  # no negative steps


def test_a_restart_after_a_back_off_shows_its_wait_next_to_the_schedule() -> None:
    crash = {"time": at(5), "reason": "Crash", "exitCode": 1, "restart": 3,
             "backOffSeconds": 21.0, "expectedBackOffSeconds": 20.0}  # fmt: skip
    (ended, waited) = timeline.history_rows(crash)
    assert ended.what == "crashed"
    assert (waited.kind, waited.what) == ("backoff", "restarted after back-off")
    assert waited.at == T0 + timedelta(seconds=26)
    assert (waited.measured, waited.expected) == (21.0, 20.0)
    assert waited.detail == (
        "CrashLoopBackOff: waited 21 s, the node's schedule says 20 s (restart 3)"
    )
    first = {**crash, "restart": 1, "backOffSeconds": 0.4, "expectedBackOffSeconds": 0.0}
    assert [r.kind for r in timeline.history_rows(first)] == ["kill"]  # at once: no back-off


def test_a_restart_says_what_it_cost_the_traffic() -> None:
    item: dict[str, Any] = {
        "restart": 1, "reason": "LivenessProbe", "time": "2026-11-30T10:00:30Z",
        "failingSince": "2026-11-30T10:00:26Z", "recoverySeconds": 9.0, "requestsLost": 42,
    }  # fmt: skip
    ready = [row for row in timeline.history_rows(item) if row.kind == "ready"]
    assert ready and ready[0].detail.endswith("; requests lost meanwhile: 42")
    del item["requestsLost"]
    assert "requests lost" not in timeline.history_rows(item)[-1].detail


def test_traffic_episodes_are_two_moments_with_their_cost() -> None:
    spell = {"kind": "OutOfService", "pod": "t-webapp", "podUID": "u", "replica": 0,
             "start": at(10), "end": at(16), "seconds": 6.0, "requestsLost": 59}  # fmt: skip
    out, back = timeline.episode_rows(spell)
    assert (out.kind, out.what, out.at) == (
        "not-ready",
        "out of service",
        T0 + timedelta(seconds=10),
    )
    assert (back.kind, back.what, back.detail) == (
        "ready", "back in service", "t-webapp: 6 s later; requests lost meanwhile: 59"
    )  # fmt: skip
    deleted = {"kind": "PodDeleted", "pod": "t-webapp-1", "podUID": "v", "replica": 1,
               "start": at(30)}  # fmt: skip
    (going,) = timeline.episode_rows(deleted)  # its successor is not ready yet
    assert (going.what, going.detail) == ("Pod deleted", "t-webapp-1 (replica 1)")
    done = {**deleted, "end": at(41), "seconds": 11.0, "requestsLost": 0}
    assert timeline.episode_rows(done)[1].detail == (
        "t-webapp-1: 11 s later; requests lost meanwhile: 0"
    )
