"""Statuses written by the operator before ledger version 3 keep every count.

`data/v2-*.json` are statuses that main's `record()` wrote at ledger version 2 (2026-12-07),
after the observations below, with the totals they had then (`truth`). Recording them again
with the same observations adds nothing; with more, it adds exactly the difference."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from healthdemo_operator import podspec
from healthdemo_operator.kubelet.probe_counters import PodCounters, ProbeCounts
from healthdemo_operator.observations import PodView, event_view, pod_view
from healthdemo_operator.status.ledger import VERSION, Ledger, Tally
from healthdemo_operator.status.record import record

from ..conftest import ROOT
from .kubelet_data import (
    KILLING_LIVENESS,
    LIVENESS_500,
    POD_UID,
    event,
    liveness_kill_termination,
    pod,
)
from .test_exact_counts import undeclared

DATA = Path(__file__).with_name("data")
SPEC = podspec.effective(
    {
        "livenessProbe": {"periodSeconds": 1, "failureThreshold": 3},
        "readinessProbe": {"periodSeconds": 1},
        "startupProbe": {"periodSeconds": 1, "failureThreshold": 10},
    }
)
T0 = datetime(2026, 11, 30, 10, 0, 0, tzinfo=UTC)
NEW_POD = "7a2d3c4e-1f2b-4c5d-8e9f-0a1b2c3d4e5f"
STUCK = event(
    uid="ev-unhealthy", reason="Unhealthy", message=LIVENESS_500, count=22,
    last="2026-11-30T10:00:30Z",
)  # fmt: skip
READINESS = event(
    uid="ev-ready", reason="Unhealthy", count=3, last="2026-11-30T10:00:30Z",
    message="Readiness probe failed: HTTP probe failed with statuscode: 503",
)  # fmt: skip
KILL = event(
    uid="ev-killing", reason="Killing", message=KILLING_LIVENESS, last="2026-11-30T10:00:34Z",
    event_type="Normal",
)  # fmt: skip
EVENTS = [event_view(e) for e in (STUCK, READINESS, KILL)]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def written(name: str) -> tuple[dict[str, Any], dict[str, int]]:
    recorded = json.loads((DATA / f"{name}.json").read_text())
    assert recorded["status"]["accounting"]["version"] == 2
    return recorded["status"], recorded["truth"]


def counters(uid: str, read: float, **failed: int) -> dict[str, PodCounters]:
    return {uid: PodCounters(counts=ProbeCounts(failed), at=at(read))}


def totals(status: dict[str, Any]) -> dict[str, int]:
    keys = ("probeFailures", "readinessFailures", "startupFailures", "restarts")
    return {key: status[key] for key in keys}


def again(
    previous: dict[str, Any], pods: list[PodView], found: dict[str, PodCounters], now: float
) -> dict[str, Any]:
    return record(
        previous=previous, spec=SPEC, generation=1, pod_name="demo-webapp", pods=pods,
        events=EVENTS, counters=found, problem=None, now=at(now),
    ).status  # fmt: skip


def restarted(count: int = 1) -> PodView:
    return pod_view(
        pod(
            restarts=count, last_terminated=liveness_kill_termination(),
            ready_since="2026-11-30T10:00:40Z",
        )
    )  # fmt: skip


def test_version_2_reads_as_one_tally_per_probe() -> None:
    status, _ = written("v2-past-the-event-budget")
    entry = Ledger.load(status["accounting"], EVENTS).pods[POD_UID]
    webapp = entry.container()
    assert (webapp.restarts, webapp.kills, entry.normal_events) == (1, 1, 1)
    assert webapp.probes["Liveness"] == Tally(
        events=22, raw=37, total=37, counted=37, at="2026-11-30T10:00:50Z"
    )
    assert webapp.probes["Readiness"] == Tally(events=3, raw=6, total=6, counted=6)
    assert webapp.probes["Startup"] == Tally(events=0, raw=2, total=2, counted=2)


def test_the_same_observations_add_nothing_and_more_add_exactly_the_difference() -> None:
    status, truth = written("v2-past-the-event-budget")
    same = again(status, [restarted()], counters(POD_UID, 55, Liveness=37, Readiness=6,
                                                 Startup=2), 55)  # fmt: skip
    assert totals(same) == truth
    assert same["accounting"]["version"] == VERSION
    assert same["history"] == status["history"]  # the restart is not told twice
    more = again(same, [restarted(2)], counters(POD_UID, 60, Liveness=40, Readiness=8,
                                                Startup=2), 60)  # fmt: skip
    assert totals(more) == {**truth, "probeFailures": 40, "readinessFailures": 8, "restarts": 2}


def test_a_replaced_pods_final_counts_stay_final() -> None:
    status, truth = written("v2-replaced-pod")
    new = pod_view(
        pod(
            uid=NEW_POD, created="2026-11-30T10:01:05Z", ready_since="2026-11-30T10:01:08Z",
            container_id="containerd://n1",
        )
    )  # fmt: skip
    gone = dataclasses.replace(restarted(), gone=True)
    same = again(status, [gone, new], counters(NEW_POD, 75, Liveness=2, Readiness=1), 75)
    assert totals(same) == truth
    assert same["accounting"]["pods"][POD_UID]["final"] is True
    more = again(same, [new], counters(NEW_POD, 80, Liveness=5, Readiness=1), 80)
    assert totals(more) == {**truth, "probeFailures": 43}


@pytest.mark.parametrize("name", ["v2-past-the-event-budget", "v2-replaced-pod"])
def test_the_crd_still_declares_every_version_2_field(name: str) -> None:
    """The API server prunes what the schema does not declare, also when it reads what an
    older operator stored: a version 2 ledger must survive until it is rewritten as 3."""
    crd = yaml.safe_load((ROOT / "crds" / "healthdemo.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    status, _ = written(name)
    assert undeclared(status, schema) == []
