"""Status from Pod + Events + the kubelet's counters: exact, durable numbers. Pure.

The one entrance to the status package. Three signals, and what each is good for:
- the Pod status: `restartCount` (starts again at 0 in a new Pod) and `lastState.terminated`,
  whose message carries our webapp's journal — never rate-limited;
- the kubelet's probe counters (`prober_probe_total`, read by `kubelet.reader`) — never
  rate-limited, but read only every few seconds and gone with the Pod;
- the kubelet's Events — immediate, with the kubelet's words, but at most about 25 per Pod.

Each number is counted per source in the ledger (`ledger.py`, in `status.accounting`), and only
the difference to what the ledger says was counted is ever added, in the same status write as the
totals: so a restarted operator neither counts twice nor loses a count. Where a number cannot be
exact — a kubelet that cannot be read, a Pod deleted before its final count, a restart whose cause
is gone — the `CountsComplete` condition says so.

The passes run in this order, each taking what it reads as arguments and updating the typed
`Status` and `Ledger` it is given:

    probe_failures.count_events → count_kubelet → count_failures   (every probe, every Pod)
    restarts.count_restarts → revise_latest → revise_resize → fill_recovery (history, causes)
    departures.settle_departed → prune                               (Pods that went away)
    readiness.follow                                                 (spells out of service)
    probe_failures.forgive                                           (after the restarts)
    completeness.counts_complete, phase.phase_of, conditions         (what it all says)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from healthdemo_operator.kubelet import backoff
from healthdemo_operator.kubelet.probe_counters import PodCounters
from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_operator.observations import (
    EventView,
    PodView,
    Readiness,
    current_pod,
    live_pods,
)
from healthdemo_operator.status import (
    departures,
    expected,
    probe_failures,
    readiness,
    restarts,
)
from healthdemo_operator.status.completeness import counts_complete
from healthdemo_operator.status.conditions import condition, conditions_for
from healthdemo_operator.status.ledger import Ledger, PodEntry
from healthdemo_operator.status.phase import Problem, phase_of
from healthdemo_operator.status.probe_failures import Pace
from healthdemo_operator.status.recording import Notice, Recording
from healthdemo_operator.status.status import PodSummary, Status
from healthdemo_operator.timestamps import format_time, parse_time
from healthdemo_operator.traffic import episodes, tally, windows


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
    backoffs: Mapping[str, backoff.Policy] | None = None,
    traffic: tally.Reading | None = None,
    problem: Problem | None,
    now: datetime,
) -> Recording:
    """The new status of one HealthDemo from its previous status and what was observed.

    `spec` has its defaults filled in; `pods` are the HealthDemo's Pods (live, and deleted ones
    not yet recorded); `events` the kubelet Events about them; `counters` the kubelet's probe
    counters by Pod UID (for Pods on a node); `ledger` the typed `previous["accounting"]` (parsed
    from it if not given), which this call updates; `ready_seen` the Ready states each Pod
    showed in the watch since the last write, oldest first (the newest is in `pods`);
    `backoffs` each node's CrashLoopBackOff schedule (Kubernetes' defaults where not given);
    `traffic` what the traffic client last counted (spec.traffic), if it could be asked.
    """
    counters = counters or {}
    status = Status.load({k: v for k, v in previous.items() if k != "accounting"})
    status.ledger = (
        ledger if ledger is not None else Ledger.load(previous.get("accounting"), events)
    )
    ledger = status.ledger
    for observed in pods:
        ledger.pods.setdefault(observed.uid, PodEntry(seen=format_time(now))).container(
            CONTAINER_NAME
        )
    pace = Pace.of(spec)
    math = expected.probe_math(spec)
    notices: list[Notice] = []

    times = probe_failures.count_events(events, ledger, status, pace=pace, now=now)
    probe_failures.count_kubelet(pods, counters, ledger, now=now)
    notices += probe_failures.count_failures(pods, counters, ledger, status, times, pace=pace)
    notices += restarts.count_restarts(
        pods, events, ledger, status, threshold=pace.threshold, expected=math, now=now,
        backoffs=backoffs,
    )  # fmt: skip
    restarts.revise_latest(pods, events, ledger, status, threshold=pace.threshold, now=now)
    restarts.revise_resize(pods, events, ledger, status)
    restarts.fill_reset_wait(status, pods)
    pod = current_pod(pods)
    restarts.fill_recovery(status, pods)
    _count_traffic(status, ledger, spec, traffic, now=now)
    departures.settle_departed(pods, counters, ledger, now=now)
    departures.prune(pods, ledger, now=now)
    spells = readiness.follow(pods, ready_seen or {}, ledger, status.service, now=now)
    _traffic_episodes(status, spec, pods, spells, traffic, now=now)
    notices += probe_failures.forgive(ledger, status, pace=pace, now=now)  # a kill closes first
    counts_state = counts_complete(pods, counters, ledger, status.restart_reasons)

    before = status.phase
    phase, recheck = phase_of(
        pod, problem=problem, episode=ledger.episode, history=status.history, spec=spec, now=now
    )
    previous_conditions = status.conditions
    status.phase = phase
    status.pod_name = pod.name if pod else pod_name
    live = [p for p in live_pods(pods) if p.replica < int(spec.get("replicas") or 1)]
    status.ready = f"{sum(p.ready for p in live)}/{int(spec.get('replicas') or 1)}"
    status.pods = [_summary(p, status) for p in live]
    status.kubelet_route = _route(pod, counters) or status.kubelet_route
    status.observed_generation = generation
    node = pod.node_name if pod else None
    status.expected = {**math, "backOff": (backoffs or {}).get(node or "", backoff.DEFAULT).dump()}
    status.conditions = [
        *conditions_for(
            phase,
            pod=pod,
            live=live,
            replicas=int(spec.get("replicas") or 1),
            problem=problem,
            previous=previous_conditions,
            last_failure_message=status.last_probe_failure_message,
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
    was = next((c for c in previous_conditions if c.type == "CountsComplete"), None)
    if (
        counts_state[0] == "False"
        and ((was.status, was.reason) if was else (None, None)) != counts_state[:2]
    ):
        notices.append(Notice("Warning", "CountsIncomplete", counts_state[2]))
    if phase != before:
        if phase == "ImagePullError" and pod is not None:
            notices.append(Notice("Warning", "ImagePullError", status.conditions[1].message))
        elif phase == "Ended" and pod is not None:
            notices.append(Notice("Warning", "PodEnded", status.conditions[1].message))
        elif phase == "CrashLoopBackOff" and pod is not None:
            notices.append(Notice("Warning", "CrashLoopBackOff", pod.waiting_message or ""))
        elif phase == "Invalid" and problem is not None:
            notices.append(Notice("Warning", problem.reason, problem.message))
    return Recording(status=status.dump(), ledger=ledger, notices=notices, recheck_after=recheck)


def _count_traffic(
    status: Status,
    ledger: Ledger,
    spec: Mapping[str, Any],
    reading: tally.Reading | None,
    *,
    now: datetime,
) -> None:
    asked = spec.get("traffic")
    if asked is None and status.traffic is None:
        return
    if status.traffic is None:
        status.traffic = tally.Traffic()
    if asked is not None:
        status.traffic.rate_per_second = float(asked["ratePerSecond"])
    else:
        status.traffic.rate_per_second, status.traffic.client = 0.0, None  # stopped: totals kept
    if reading is not None:
        gap = tally.count(status.traffic, ledger.traffic, reading)
        if gap is not None:
            ledger.add_gap("TrafficTallyReset", gap, format_time(now))
        if reading.counts is not None:
            _requests_lost(status, reading.counts, now=now)
    for gone in tally.settle(ledger.traffic, reading.pod_uid if reading else None):
        ledger.add_gap("TrafficFinalCountUnread", gone, format_time(now))


def _requests_lost(status: Status, counts: Mapping[str, Any], *, now: datetime) -> None:
    """Each recovered restart's cost in requests: the client's failure windows from its first
    failure (or its end) to ready again. Told once the client has answered again after it."""
    for item in status.history:
        if item.requests_lost is not None or item.recovery_seconds is None:
            continue
        began = parse_time(item.failing_since) or parse_time(item.time)
        if began is None:
            continue
        start = began.timestamp()
        recovered = start + item.recovery_seconds
        if now.timestamp() < recovered + windows.CLOCK_SLACK_S:
            continue  # the client may not have tried since
        item.requests_lost = windows.lost_between(counts, start, recovered)
        if item.requests_lost is not None and status.traffic is not None:
            lost_in = status.traffic.lost_in
            lost_in["Restart"] = lost_in.get("Restart", 0) + item.requests_lost


def _traffic_episodes(
    status: Status,
    spec: Mapping[str, Any],
    pods: Sequence[PodView],
    spells: Sequence[readiness.Spell],
    reading: tally.Reading | None,
    *,
    now: datetime,
) -> None:
    """While there is traffic to lose: each spell out of service and each Pod deletion, and
    the requests each cost."""
    if status.traffic is None:
        return
    kept = status.traffic.episodes
    for spell in spells:
        restarted = any(
            item.pod_name == spell.pod.name
            and (at := parse_time(item.time)) is not None
            and spell.began - restarts.SLACK <= at <= spell.ended
            for item in status.history
        )
        episodes.spell(kept, spell.pod, spell.began, spell.ended, restarted=restarted)
    episodes.follow_deletions(kept, pods, replicas=int(spec.get("replicas") or 1), now=now)
    if reading is not None and reading.counts is not None:
        episodes.count_lost(kept, reading.counts, status.traffic.lost_in, now=now)


def _route(pod: PodView | None, counters: Mapping[str, PodCounters]) -> str | None:
    """How the current Pod's kubelet was last read (None: not read this time)."""
    read = counters.get(pod.uid) if pod else None
    return read.route if read else None


def _summary(pod: PodView, status: Status) -> PodSummary:
    newest = next((item for item in status.history if item.pod_name == pod.name), None)
    return PodSummary(
        pod.name,
        pod.replica,
        pod.ready,
        sum(view.restart_count for view in pod.containers()),
        newest.reason if newest else None,
    )
