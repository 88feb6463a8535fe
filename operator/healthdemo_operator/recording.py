"""Status from Pod + Events + the kubelet's counters: exact, durable numbers. Pure.

Three signals, and what each is good for:
- the Pod status: `restartCount` (starts again at 0 in a new Pod) and `lastState.terminated`,
  whose message carries our webapp's journal — never rate-limited;
- the kubelet's probe counters (`prober_probe_total`, read by `kubelet_counters`) — never
  rate-limited, but read only every few seconds and gone with the Pod;
- the kubelet's Events — immediate, with the kubelet's words, but at most about 25 per Pod.

Each number is counted per source in the `accounting` ledger (`ledger.py`), and only the
difference to what the ledger says was counted is ever added, in the same status write as the
totals: so a restarted operator neither counts twice nor loses a count. Probe failures per Pod
are the larger of the two lower bounds (Events, the kubelet's counter), which is exact whenever
either is. Where a number cannot be exact — a kubelet that cannot be read, a Pod deleted before
its final count, a restart whose cause is gone — the `CountsComplete` condition says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from healthdemo_operator import departures, expected, failures, history, readiness
from healthdemo_operator.completeness import counts_complete
from healthdemo_operator.conditions import condition, conditions_for
from healthdemo_operator.ledger import Ledger
from healthdemo_operator.observations import EventView, PodView, Readiness, current_pod
from healthdemo_operator.phase import Phase, Problem, phase_of
from healthdemo_operator.recording_pass import Notice, PodCounters, RecordingPass

__all__ = ["Notice", "PodCounters", "Problem", "Recording", "record"]


@dataclass(frozen=True)
class Recording:
    status: dict[str, Any]
    ledger: Ledger  # the typed view of status.accounting
    notices: list[Notice] = field(default_factory=list)
    recheck_after: float | None = None  # seconds until the phase can change with no new signal


def record(
    *,
    previous: Mapping[str, Any],
    spec: Mapping[str, Any],
    generation: int,
    pod_name: str,
    pods: Sequence[PodView],
    events: Sequence[EventView],
    counters: Mapping[str, PodCounters] | None = None,
    ledger: Ledger | None = None,
    ready_seen: Mapping[str, Sequence[Readiness]] | None = None,
    problem: Problem | None,
    now: datetime,
) -> Recording:
    """The new status of one HealthDemo from its previous status and what was observed.

    `spec` has its defaults filled in; `pods` are the HealthDemo's Pods (live, and deleted ones
    not yet recorded); `events` the kubelet Events about them; `counters` the kubelet's probe
    counters by Pod UID (for Pods on a node); `ledger` the typed `previous["accounting"]` (parsed
    from it if not given), which this call updates; `ready_seen` the Ready states each Pod
    showed in the watch since the last write, oldest first (the newest is in `pods`).
    """
    recorder = RecordingPass(
        previous=previous,
        spec=spec,
        now=now,
        pods=pods,
        events=events,
        counters=counters or {},
        ledger=ledger,
        ready_seen=ready_seen or {},
    )
    failures.count_events(recorder)
    failures.count_kubelet(recorder)
    failures.count_failures(recorder)
    failures.count_other_failures(recorder)
    history.count_restarts(recorder)
    history.revise_latest(recorder)
    pod = current_pod(pods)
    history.fill_recovery(recorder, pod)
    departures.settle_departed(recorder)
    departures.prune(recorder)
    readiness.follow(recorder)
    failures.forgive(recorder)  # after the restarts: a kill closes its episode first
    counts_state = counts_complete(recorder)
    status = recorder.finish()
    before: str | None = previous.get("phase")
    phase: Phase
    phase, recheck = phase_of(
        pod, problem=problem, episode=recorder.ledger.episode, status=status, spec=spec, now=now
    )
    status["phase"] = phase
    status["podName"] = pod.name if pod else pod_name
    status["observedGeneration"] = generation
    status["expected"] = expected.probe_math(spec)
    previous_conditions = previous.get("conditions") or []
    status["conditions"] = [
        *conditions_for(
            phase,
            pod=pod,
            problem=problem,
            status=status,
            spec=spec,
            generation=generation,
            now=now,
        ),
        condition(
            previous_conditions,
            kind="CountsComplete",
            state=counts_state,
            generation=generation,
            now=now,
        ),
    ]
    notices = recorder.notices
    was: Mapping[str, Any] = next(
        (c for c in previous_conditions if c.get("type") == "CountsComplete"), {}
    )
    if counts_state[0] == "False" and (was.get("status"), was.get("reason")) != counts_state[:2]:
        notices.append(Notice("Warning", "CountsIncomplete", counts_state[2]))
    if phase != before:
        if phase == "ImagePullError" and pod is not None:
            notices.append(Notice("Warning", "ImagePullError", status["conditions"][1]["message"]))
        elif phase == "CrashLoopBackOff" and pod is not None:
            notices.append(Notice("Warning", "CrashLoopBackOff", pod.waiting_message or ""))
        elif phase == "Invalid" and problem is not None:
            notices.append(Notice("Warning", problem.reason, problem.message))
    return Recording(status=status, ledger=recorder.ledger, notices=notices, recheck_after=recheck)
