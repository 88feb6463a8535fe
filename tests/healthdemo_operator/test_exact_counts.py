"""Exact counts past the kubelet's Event budget, pure: the kubelet's probe counters, the webapp's
journal in the termination message, the Event budget, and honesty where a signal is lost."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from healthdemo_operator import journal, podspec
from healthdemo_operator.kubelet import probe_counters
from healthdemo_operator.kubelet.probe_counters import PodCounters, ProbeCounts
from healthdemo_operator.observations import event_view, pod_view
from healthdemo_operator.status.ledger import Ledger
from healthdemo_operator.status.record import record
from healthdemo_operator.status.recording import Recording

from webapp.journal import Journal as WebappJournal

from .kubelet_data import (
    KILLING_LIVENESS,
    LIVENESS_500,
    NODE,
    POD_UID,
    PROBE_METRICS,
    event,
    liveness_kill_termination,
    pod,
)

SPEC = podspec.effective({"livenessProbe": {"periodSeconds": 1, "failureThreshold": 3}})
T0 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def kubelet(failed: int | None, read: float = 60, error: str | None = None) -> PodCounters:
    counts = ProbeCounts({"Liveness": failed}) if failed is not None else None
    return PodCounters(counts=counts, at=at(read) if failed is not None else None, error=error)


def run(
    previous: dict[str, Any] | None = None,
    *,
    pods: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    counters: PodCounters | None = None,
    now: float = 60,
    gone: bool = False,
) -> Recording:
    views = [pod_view(p) for p in (pods if pods is not None else [pod()])]
    if gone:
        views = [dataclasses.replace(v, gone=True) for v in views]
    return record(
        previous=previous or {},
        spec=SPEC,
        generation=1,
        pod_name="demo-webapp",
        pods=views,
        events=[event_view(e) for e in events or []],
        counters={POD_UID: counters} if counters is not None else {},
        problem=None,
        now=at(now),
    )


def counts_complete(status: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in status["conditions"] if c["type"] == "CountsComplete")
    return found


def written_journal(tmp_path: Path, story: list[tuple[str, int | None, int]]) -> str:
    """The termination message the real webapp writes after `story`: (cause, code, streak)."""
    directory, log = tmp_path / "emptydir", tmp_path / "termination-log"
    directory.mkdir()
    log.touch()
    for cause, code, streak in story:
        container = WebappJournal(directory, log)
        container.begin_container()
        for n in range(streak):
            container.liveness_answer(failed=True, at=T0.timestamp() + n)
        if cause != "gone":
            container.ended(cause, code)
    return log.read_text()


# -- the kubelet's counters ----------------------------------------------------------------------


def test_the_kubelets_text_is_parsed_for_our_container_only() -> None:
    counts = probe_counters.parse(PROBE_METRICS, "webapp")
    started = 1765090000.0  # the kubelet's process_start_time_seconds in the text
    assert counts == {
        POD_UID: ProbeCounts({"Liveness": 32}, kubelet_started=started),
        "other-pod-uid": ProbeCounts({"Liveness": 0, "Readiness": 4}, kubelet_started=started),
    }


def test_failures_past_the_event_budget_come_from_the_kubelets_counter() -> None:
    """The issue's measurement: 32 failed answers, the Events stuck at 22."""
    stuck = event(uid="ev-unhealthy", reason="Unhealthy", message=LIVENESS_500, count=22)
    first = run(events=[stuck], counters=kubelet(32))
    assert first.status["probeFailures"] == 32
    assert counts_complete(first.status)["status"] == "True"
    # The spam filter lets one more through later, with the count caught up: nothing twice.
    caught_up = event(uid="ev-unhealthy", reason="Unhealthy", message=LIVENESS_500, count=33)
    later = run(first.status, events=[caught_up], counters=kubelet(33, read=70), now=70)
    assert later.status["probeFailures"] == 33
    again = run(later.status, events=[caught_up], counters=kubelet(33, read=80), now=80)
    assert again.status == later.status  # nothing new: no write


def test_events_ahead_of_the_last_read_count_at_once_and_never_twice() -> None:
    three = event(uid="ev-unhealthy", reason="Unhealthy", message=LIVENESS_500, count=3)
    first = run(events=[three], counters=kubelet(1))
    assert first.status["probeFailures"] == 3
    second = run(first.status, events=[three], counters=kubelet(3, read=65), now=65)
    assert second.status["probeFailures"] == 3


def test_any_event_reason_counts_if_its_message_is_a_failed_liveness_probe() -> None:
    ignored = event(uid="ev-x", reason="ProbeFailureIgnored", message=LIVENESS_500, count=2)
    assert run(events=[ignored]).status["probeFailures"] == 2


def test_a_reset_kubelet_counter_is_added_and_said_to_be_a_lower_bound() -> None:
    first = run(counters=kubelet(10))
    restarted = run(first.status, counters=kubelet(2, read=90), now=90)
    assert restarted.status["probeFailures"] == 12
    condition = counts_complete(restarted.status)
    assert (condition["status"], condition["reason"]) == ("False", "KubeletCountersReset")
    assert [n.reason for n in restarted.notices] == ["LivenessProbeFailing", "CountsIncomplete"]


def test_a_restarted_kubelet_is_a_reset_even_when_its_count_did_not_go_down() -> None:
    """The restarted kubelet counted as many failures as before (a young Pod's few, say): only
    its new process start time tells that these are new counters, from zero."""

    def read(failed: int, started: float, when: float) -> PodCounters:
        counts = ProbeCounts({"Liveness": failed}, kubelet_started=started)
        return PodCounters(counts=counts, at=at(when))

    first = run(counters=read(2, 1000.0, 60))
    same = run(first.status, counters=read(2, 1085.0, 90), now=90)
    assert same.status["probeFailures"] == 4
    assert counts_complete(same.status)["reason"] == "KubeletCountersReset"
    # And on from the restarted kubelet's counters, by their difference again.
    onward = run(same.status, counters=read(3, 1085.0, 95), now=95)
    assert onward.status["probeFailures"] == 5


def test_a_kubelet_that_cannot_be_read_makes_probe_failures_a_lower_bound() -> None:
    refused = "the kubelet of node n refused to show its probe counters: grant `get` on ..."
    result = run(counters=kubelet(None, error=refused))
    condition = counts_complete(result.status)
    assert (condition["status"], condition["reason"]) == ("False", "KubeletUnreadable")
    assert refused in condition["message"]
    assert ("Warning", "CountsIncomplete") in [(n.type, n.reason) for n in result.notices]
    # Readable again: the cumulative counter heals it (a live Pod's counter misses nothing).
    healed = run(result.status, counters=kubelet(4, read=70), now=70)
    assert healed.status["probeFailures"] == 4
    assert counts_complete(healed.status)["status"] == "True"


# -- the webapp's journal ------------------------------------------------------------------------


def test_the_operator_reads_what_the_webapp_writes(tmp_path: Path) -> None:
    message = written_journal(tmp_path, [("sigterm", None, 3), ("crash", 1, 0), ("gone", None, 0)])
    parsed = journal.parse(message)
    assert parsed is not None
    assert parsed.containers == 3
    assert [(e.container, e.cause, e.exit_code, e.streak) for e in parsed.ends.values()] == [
        (0, "sigterm", None, 3),
        (1, "crash", 1, 0),
    ]
    assert parsed.ends[0].failing_since == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert journal.parse("some other app's last words") is None
    assert journal.parse(journal.PREFIX + "{torn") is None
    # Where the runtime has a message of its own, the kubelet puts it first.
    assert journal.parse("runtime says: " + message) == parsed


def test_restarts_while_away_each_keep_their_own_item(tmp_path: Path) -> None:
    """Five restarts the operator never saw one by one: liveness, liveness, crash, liveness,
    liveness; the Killing Events long past the budget. The journal tells each."""
    story: list[tuple[str, int | None, int]] = [
        ("sigterm", None, 3),
        ("sigterm", None, 3),
        ("crash", 1, 0),
        ("sigterm", None, 3),
        ("sigterm", None, 3),
    ]
    message = written_journal(tmp_path, story)
    away = pod(
        restarts=5,
        last_terminated={**liveness_kill_termination(), "message": message},
        container_id="containerd://c6",
    )
    status = run(pods=[away], counters=kubelet(12)).status
    assert status["restarts"] == 5
    assert [(h["restart"], h["reason"], h["evidence"]) for h in status["history"]] == [
        (5, "LivenessProbe", "Journal"),
        (4, "LivenessProbe", "Journal"),
        (3, "Crash", "Journal"),
        (2, "LivenessProbe", "Journal"),
        (1, "LivenessProbe", "Journal"),
    ]
    assert status["history"][2]["exitCode"] == 1
    assert all(h["time"] for h in status["history"])
    assert status["history"][1]["failingSince"] == "2026-11-30T10:00:00Z"
    assert status["restartReasons"] == {"LivenessProbe": 4, "Crash": 1}
    assert counts_complete(status)["status"] == "True"


def test_a_silent_end_is_what_the_runtime_says(tmp_path: Path) -> None:
    message = written_journal(tmp_path, [("sigterm", None, 3)]).replace(
        '"containers":1', '"containers":2'
    )
    oom = pod(
        restarts=2,
        last_terminated={"exitCode": 137, "reason": "OOMKilled", "message": message},
    )
    status = run(pods=[oom]).status
    assert [h["reason"] for h in status["history"]] == ["OOMKilled", "LivenessProbe"]


def test_more_restarts_than_the_journal_keeps_are_unknown_not_wrong(tmp_path: Path) -> None:
    story: list[tuple[str, int | None, int]] = [("crash", 1, 0)] * 80
    message = written_journal(tmp_path, story)
    kept = journal.parse(message)
    assert kept is not None and kept.oldest > 0
    looping = pod(
        restarts=80, last_terminated={"exitCode": 1, "reason": "Error", "message": message}
    )
    status = run(pods=[looping]).status
    assert status["restarts"] == 80
    assert status["restartReasons"] == {"Crash": 80 - kept.oldest, "Unknown": kept.oldest}
    condition = counts_complete(status)
    assert (condition["status"], condition["reason"]) == ("False", "RestartCausesUnknown")


# -- a container without a journal ---------------------------------------------------------------


def budget_spent(count: int = 24) -> dict[str, Any]:
    """The kubelet's Normal Events about the Pod (Pulled, Created, Started, Killing...)."""
    return event(uid="ev-started", reason="Started", message="Started container webapp",
                 count=count, event_type="Normal")  # fmt: skip


def test_a_foreign_container_past_the_budget_gets_unknown_and_a_lower_bound() -> None:
    killing = event(uid="ev-killing", reason="Killing", message=KILLING_LIVENESS, count=4,
                    event_type="Normal")  # fmt: skip
    foreign = pod(restarts=6, last_terminated={"exitCode": 0, "reason": "Completed"})
    result = run(pods=[foreign], events=[killing, budget_spent()], counters=kubelet(6))
    status = result.status
    assert status["restarts"] == 6
    assert status["probeFailures"] == 6
    assert status["restartReasons"] == {"LivenessProbe": 4, "Unknown": 2}
    assert "a liveness kill would not show" in status["history"][0]["detail"]
    condition = counts_complete(status)
    assert (condition["status"], condition["reason"]) == ("False", "RestartCausesUnknown")
    assert "CountsIncomplete" in [n.reason for n in result.notices]


def test_a_foreign_crash_within_the_budget_is_a_crash() -> None:
    crashed = pod(restarts=1, last_terminated={"exitCode": 2, "reason": "Error"})
    status = run(pods=[crashed], events=[budget_spent(5)]).status
    assert status["restartReasons"] == {"Crash": 1}
    assert counts_complete(status)["status"] == "True"


# -- Pods that go away ---------------------------------------------------------------------------


def test_a_pod_read_after_its_deletion_is_final() -> None:
    first = run(counters=kubelet(2)).status
    deleting = pod(deleting=True)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-30T10:01:30Z"
    deleting["metadata"]["deletionGracePeriodSeconds"] = 30  # asked for at 10:01:00
    final = run(first, pods=[deleting], counters=kubelet(3, read=61), now=61, gone=True).status
    assert final["probeFailures"] == 3
    assert final["accounting"]["pods"][POD_UID]["final"] is True
    assert counts_complete(final)["status"] == "True"
    later = run(final, pods=[], now=70).status
    assert counts_complete(later)["status"] == "True"


def test_a_pod_deleted_before_its_final_read_leaves_a_lower_bound() -> None:
    first = run(counters=kubelet(2, read=50), now=50).status
    deleting = pod(deleting=True)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-30T10:01:30Z"
    deleting["metadata"]["deletionGracePeriodSeconds"] = 30
    final = run(first, pods=[deleting], counters=kubelet(2, read=50), now=61, gone=True).status
    condition = counts_complete(final)
    assert (condition["status"], condition["reason"]) == ("False", "FinalCountMissed")
    # Sticky: a later Pod's exact counts do not make the lost ones come back.
    assert counts_complete(run(final, pods=[], now=90).status)["status"] == "False"


def test_a_pod_that_vanished_while_the_operator_was_away_leaves_a_lower_bound() -> None:
    first = run(counters=kubelet(2)).status
    after = run(first, pods=[], now=120).status
    condition = counts_complete(after)
    assert (condition["status"], condition["reason"]) == ("False", "PodGoneUnseen")
    assert after["probeFailures"] == 2


# -- upgrading from the Events-only ledger -------------------------------------------------------


def test_a_version_1_ledger_is_not_counted_again() -> None:
    v1 = {
        "restarts": 0,
        "probeFailures": 3,
        "history": [],
        "accounting": {
            "pods": {POD_UID: {"restarts": 0, "kills": 0, "seen": "2026-11-30T10:00:00Z"}},
            "events": {"ev-unhealthy": {"count": 3, "last": "2026-11-30T10:00:34Z"}},
            "episode": None,
        },
    }
    three = event(uid="ev-unhealthy", reason="Unhealthy", message=LIVENESS_500, count=3)
    status = run(v1, events=[three], counters=kubelet(4)).status
    assert status["probeFailures"] == 4
    liveness = Ledger.load(status["accounting"], []).pods[POD_UID].container().probes["Liveness"]
    assert liveness.counted == 4


def test_the_ledger_survives_a_round_trip_through_json() -> None:
    status = run(events=[budget_spent(3)], counters=kubelet(2)).status
    again = json.loads(json.dumps(status))
    assert run(again, events=[budget_spent(3)], counters=kubelet(2)).status == again


def test_the_node_name_is_what_the_kubelet_reading_is_keyed_by() -> None:
    assert pod_view(pod()).node_name == NODE


# -- what the API server keeps -------------------------------------------------------------------


def undeclared(value: Any, schema: dict[str, Any], where: str = "status") -> list[str]:
    """Paths in `value` the structural schema would prune (or reject as null)."""
    if value is None:
        return [] if schema.get("nullable") else [f"{where} is null"]
    if isinstance(value, dict):
        if "additionalProperties" in schema:
            sub = schema["additionalProperties"]
            return [p for k, v in value.items() for p in undeclared(v, sub, f"{where}.{k}")]
        props = schema.get("properties", {})
        missing = [f"{where}.{k}" for k in value if k not in props]
        return missing + [
            p
            for k, v in value.items()
            if k in props
            for p in undeclared(v, props[k], f"{where}.{k}")
        ]
    if isinstance(value, list):
        return [
            p for i, v in enumerate(value) for p in undeclared(v, schema["items"], f"{where}[{i}]")
        ]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}={value!r} not in the enum"]
    return []


def test_every_status_field_is_declared_in_the_crd(tmp_path: Path) -> None:
    """Undeclared status fields are pruned silently by the API server: the ledger would be lost."""
    crd = yaml.safe_load((Path(__file__).parents[2] / "crds" / "healthdemo.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    message = written_journal(tmp_path, [("sigterm", None, 3), ("crash", 1, 0)])
    journaled = pod(
        restarts=2, last_terminated={"exitCode": 1, "reason": "Error", "message": message}
    )
    foreign = pod(restarts=6, last_terminated={"exitCode": 0, "reason": "Completed"})
    recovered = pod(
        restarts=1,
        last_terminated={"exitCode": 1, "reason": "Error", "finishedAt": "2026-11-30T10:00:30Z"},
        state={"running": {"startedAt": "2026-11-30T10:00:31Z"}},
        ready_since="2026-11-30T10:00:33Z",
    )
    with_recovery = run(pods=[recovered]).status
    assert with_recovery["recovery"]["count"] == 1
    statuses = [
        with_recovery,
        run(pods=[journaled], events=[budget_spent(3)], counters=kubelet(7)).status,
        run(pods=[foreign], events=[budget_spent()], counters=kubelet(6)).status,
        run(run(counters=kubelet(10)).status, counters=kubelet(2, read=90), now=90).status,
        run(run(counters=kubelet(2)).status, pods=[], now=120).status,
    ]
    for status in statuses:
        assert undeclared(status, schema) == []
