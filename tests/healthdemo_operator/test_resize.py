"""A restart the kubelet makes to apply a resize (resizePolicy RestartContainer), told apart
from a liveness kill: both are a SIGTERM to the webapp, only the kubelet's Event says which.
Pure: Pod statuses and Events in, status out."""

from __future__ import annotations

import json
from typing import Any

from healthdemo_operator import podspec
from healthdemo_operator.observations import event_view, pod_view
from healthdemo_operator.status.record import record

from .kubelet_data import event, liveness_kill_termination, pod
from .test_recording import at

SPEC = podspec.effective({"livenessProbe": {"periodSeconds": 2, "failureThreshold": 3}})
RESIZE_KILL = "Container webapp resize requires restart"


def journal(*exits: dict[str, Any]) -> str:
    body = {"containers": len(exits) + 1, "livenessFailures": 0, "exits": list(exits)}
    return "healthdemo-journal/v1 " + json.dumps(body)


def killed(restarts: int, *exits: dict[str, Any]) -> dict[str, Any]:
    """The Pod after `restarts` restarts; the newest ended 10:00:35 (SIGTERM, exit 0)."""
    last = liveness_kill_termination(container_id=f"containerd://c{restarts}")
    last["message"] = journal(*exits)
    return pod(restarts=restarts, last_terminated=last,
               state={"running": {"startedAt": "2026-11-30T10:00:36Z"}},
               ready_since="2026-11-30T10:00:37Z")  # fmt: skip


def resize_event(last: str = "2026-11-30T10:00:35Z") -> dict[str, Any]:
    return event(uid="ev-resize", reason="Killing", message=RESIZE_KILL, event_type="Normal",
                 first=last, last=last)  # fmt: skip


def run(
    raw: dict[str, Any], events: list[dict[str, Any]], previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    return record(previous=previous or {}, spec=SPEC, generation=1, pod_name="demo-webapp",
                  pods=[pod_view(raw)], events=[event_view(e) for e in events], problem=None,
                  now=at(60)).status  # fmt: skip


SIGTERM = {"c": 0, "cause": "sigterm", "at": "2026-11-30T10:00:35.100Z"}


def test_a_resize_restart_is_the_resizes() -> None:
    status = run(killed(1, SIGTERM), [resize_event()])
    (item,) = status["history"]
    assert (item["reason"], item["evidence"]) == ("Resize", "KillingEvent")
    assert "resizePolicy RestartContainer" in item["detail"]
    assert item["probeFailures"] == 0
    assert status["restartReasons"] == {"Resize": 1}


def test_the_resize_event_after_the_pod_status_revises_the_restart() -> None:
    first = run(killed(1, SIGTERM), [])
    assert first["history"][0]["reason"] == "LivenessProbe"  # a SIGTERM, nothing else known
    later = run(killed(1, SIGTERM), [resize_event()], previous=first)
    assert later["history"][0]["reason"] == "Resize"
    assert later["restartReasons"] == {"Resize": 1}
    assert later["restarts"] == 1
    again = run(killed(1, SIGTERM), [resize_event()], previous=later)
    assert again["restartReasons"] == {"Resize": 1}  # paired once


def test_a_resize_of_the_new_container_leaves_the_earlier_liveness_kill_alone() -> None:
    liveness = {**SIGTERM, "streak": 3, "since": "2026-11-30T10:00:31Z"}
    status = run(killed(1, liveness), [resize_event(last="2026-11-30T10:00:50Z")])
    assert status["history"][0]["reason"] == "LivenessProbe"
    assert status["restartReasons"] == {"LivenessProbe": 1}
