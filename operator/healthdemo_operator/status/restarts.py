"""Restarts: one history item per restart, in order, with the cause from the best evidence left
(`causes`); a late Killing Event revises the newest; recovery time once the container is ready
again, also added to the recovery histogram that outlives the history's last 10 items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from healthdemo_operator.journal import ContainerEnd
from healthdemo_operator.kubelet import backoff
from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_operator.observations import (
    ContainerView,
    EventView,
    PodView,
    Termination,
    live_pods,
)
from healthdemo_operator.status import causes
from healthdemo_operator.status.causes import Reason, Verdict
from healthdemo_operator.status.ledger import ContainerEntry, Ledger
from healthdemo_operator.status.recording import Notice
from healthdemo_operator.status.status import Recovery, Restart, Status
from healthdemo_operator.timestamps import format_time, parse_time

HISTORY_LIMIT = 10
# Clock slack between the kubelet's timestamps and ours (second precision).
SLACK = timedelta(seconds=1)


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


def count_restarts(
    pods: Sequence[PodView],
    events: Sequence[EventView],
    ledger: Ledger,
    status: Status,
    *,
    threshold: int,
    expected: Mapping[str, Any],
    now: datetime,
    backoffs: Mapping[str, backoff.Policy] | None = None,
) -> list[Notice]:
    """One history item per restart of each container, in order; the cause from the best
    evidence left."""
    notices = []
    for pod in sorted(pods, key=lambda pod: (pod.created or now, pod.uid)):
        entry = ledger.pods[pod.uid]
        for view in pod.containers():
            container = entry.container(view.name)
            if view.restart_count <= container.restarts:
                continue
            new = range(container.restarts, view.restart_count)
            container.restarts, entry.seen = view.restart_count, format_time(now)
            items = [
                item_for(
                    pod,
                    view,
                    i,
                    causes.judge(pod, view, entry, i, events),
                    threshold=threshold if view.name == CONTAINER_NAME else view.liveness_threshold,
                    expected=expected if view.name == CONTAINER_NAME else expected.get(view.name),
                )
                for i in new
            ]
            policy = (backoffs or {}).get(pod.node_name or "", backoff.DEFAULT)
            measure_back_off(
                view,
                items[-1],
                container,
                policy,
                jumped=len(items) > 1,
                restarted_at=pod.all_restarted_at,
            )
            status.restarts += len(items)
            by_container = status.container_restarts
            by_container[view.name] = by_container.get(view.name, 0) + len(items)
            for item in items:
                status.restart_reasons[item.reason] = status.restart_reasons.get(item.reason, 0) + 1
                status.history.insert(0, item)
            del status.history[HISTORY_LIMIT:]
            if view.name == CONTAINER_NAME:
                close_episode(ledger, items[-1])  # the episode is the webapp's liveness probe
            status.last_restart_time = items[-1].time or format_time(now)
            status.last_restart_reason = items[-1].reason
            notices.append(_restart_notice(status.restarts, items))
    return notices


PROBE_KILLS = ("LivenessProbe", "StartupProbe")
NO_BACKOFF_YET = 0.0  # ContainerEntry.backoff: the kubelet keeps no back-off for it yet


def measure_back_off(
    view: ContainerView,
    item: Restart,
    container: ContainerEntry,
    policy: backoff.Policy,
    *,
    jumped: bool,
    restarted_at: datetime | None = None,
) -> None:
    """The newest restart's CrashLoopBackOff: the previous container's end (lastState) to the
    new one's start, next to the node's schedule. After a jump of several restarts the schedule
    is not known (the skipped ones' lives are gone) until a restart starts it over.

    The kubelet restarts a container it killed for a probe in the same sync, with no back-off,
    and moves its schedule then only from an older instance the runtime still keeps: after the
    first restart nothing (the crash after it restarts at once), after a later one it cannot be
    told from here (the schedule is not known). After a RestartAllContainers reset there is
    no wait: the wait is measured from the reset (`restarted_at`)."""
    runtime = view.last_termination
    started = view.running_since or (view.ended.started_at if view.ended else None)
    if runtime is not None and runtime.restarted_all and not jumped:
        # The kubelet removed every instance: it finds no exited one to hold in back-off.
        item.expected_back_off_seconds = 0.0
        if started is not None and restarted_at is not None:
            item.back_off_seconds = max(0.0, _seconds(started - restarted_at))
        container.backoff = None  # its schedule for a later exit is not known from here
        return
    if runtime is None or runtime.finished_at is None:
        container.backoff = None
        return
    if started is not None:
        item.back_off_seconds = max(0.0, _seconds(started - runtime.finished_at))
    first = view.restart_count == 1
    if item.reason in PROBE_KILLS and not jumped:
        item.expected_back_off_seconds = 0.0 if first else None
        container.backoff = NO_BACKOFF_YET if first else None
        return
    lived = None
    if runtime.started_at is not None:
        lived = (runtime.finished_at - runtime.started_at).total_seconds()
    wait, container.backoff = backoff.expected_wait(
        policy,
        None if jumped else container.backoff,
        first=first or (container.backoff == NO_BACKOFF_YET and not jumped),
        lived=lived,
    )
    item.expected_back_off_seconds = wait


def item_for(
    pod: PodView,
    view: ContainerView,
    index: int,
    verdict: Verdict,
    *,
    threshold: int | None,
    expected: Mapping[str, Any] | None = None,
) -> Restart:
    """The history item of restart `index + 1` of container `view` of `pod`; with `expected`
    (the container's probe math), the measured seconds of a probe kill next to the math's."""
    newest = index == view.restart_count - 1
    runtime = view.last_termination if newest else None
    end = view.journal.ends.get(index) if view.journal is not None else None
    when = (runtime.finished_at if runtime else None) or (end.at if end else None)
    if when is None and runtime is not None and runtime.restarted_all:
        when = pod.all_restarted_at  # the kubelet keeps no time of a removed instance
    item = Restart(
        restart=index + 1,
        pod_name=pod.name,
        reason=verdict.reason,
        evidence=verdict.evidence,
        time=format_time(when),
        exit_code=runtime.exit_code if runtime else (end.exit_code if end else None),
        # The kubelet kills after exactly failureThreshold failures in a row.
        probe_failures={"LivenessProbe": threshold, "StartupProbe": view.startup_threshold}.get(
            verdict.reason
        )
        or 0,
        container_id=runtime.container_id if runtime else None,
        detail=verdict.detail,
        container=view.name,
    )
    if end is not None and end.failing_since is not None and verdict.reason == "LivenessProbe":
        item.failing_since = format_time(end.failing_since)
    if expected is not None:
        timing = _timing(verdict.reason, end, runtime, expected, threshold)
        if (
            verdict.reason == "LivenessProbe"
            and end
            and end.failing_since
            and "measuredSeconds" not in timing
        ):
            item.detail = item.detail or (
                f"the app answered {end.streak} of the {threshold} failed probes in a row (the "
                "others never reached it: a connection that timed out or was refused), so the "
                "time from the first failure to the kill is not measured"
            )
        item.measured_seconds = timing.get("measuredSeconds")
        item.expected_seconds = timing.get("expectedSeconds")
    return item


def _timing(
    reason: Reason,
    end: ContainerEnd | None,
    runtime: Termination | None,
    expected: Mapping[str, Any],
    threshold: int | None = None,
) -> dict[str, float]:
    """Measured and expected seconds. Liveness: first failed answer → the kill (both in the
    journal), only where the app answered every failure the kubelet counted (a probe that never
    reached it fails too, and the journal's first failure would then be a later one).
    Startup: the container's start → its end (the runtime's times, newest only)."""
    if reason == "LivenessProbe" and end and end.failing_since and end.at:
        if threshold is not None and 0 < end.streak < threshold:
            return {"expectedSeconds": expected["liveness"]["firstFailureToActSeconds"]}
        return {
            "measuredSeconds": round((end.at - end.failing_since).total_seconds(), 1),
            "expectedSeconds": expected["liveness"]["firstFailureToActSeconds"],
        }
    startup = expected.get("startup")
    if reason != "StartupProbe" or not startup or runtime is None:
        return {}
    if runtime.started_at is None or runtime.finished_at is None:
        return {}
    lived = runtime.finished_at - runtime.started_at
    return {
        "measuredSeconds": round(lived.total_seconds(), 1),
        "expectedSeconds": startup["budgetSeconds"],
    }


def _restart_notice(total: int, items: Sequence[Restart]) -> Notice:
    newest = items[-1]
    who = "Container" if newest.container == CONTAINER_NAME else f"Sidecar {newest.container}"
    if len(items) > 1:
        counts: dict[str, int] = {}
        for item in items:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        told = ", ".join(f"{reason} x{n}" for reason, n in counts.items())
        return Notice(
            "Warning",
            "Restarted",
            f"{who} restarted {len(items)} times since last seen ({told}); restarts now {total}",
        )
    reason = newest.reason
    detail = {
        "LivenessProbe": f"after {newest.probe_failures} liveness probe failure(s)",
        "StartupProbe": (
            f"after {newest.probe_failures} startup probe failure(s): it did not start within "
            "the startup probe's budget"
        ),
        "RestartRule": newest.detail or f"exit code {newest.exit_code} matched a restart rule",
        "RestartAllContainers": newest.detail or causes.RESTARTED_ALL,
        "Resize": causes.RESIZED,
        "Crash": f"the container exited with code {newest.exit_code}",
        "Exited": "the container exited on its own with code 0",
        "OOMKilled": "the container ran out of memory",
        "Unknown": newest.detail or "the cause is not known",
    }[reason]
    return Notice(
        "Normal" if reason in ("LivenessProbe", "StartupProbe", "Resize") else "Warning",
        "Restarted",
        f"{who} restarted ({reason}): {detail}; restarts now {total}",
    )


def close_episode(ledger: Ledger, item: Restart) -> None:
    """A liveness restart ends the failure episode; it began with the episode's first
    failure unless the webapp's journal said exactly when."""
    episode = ledger.episode
    if episode and item.reason == "LivenessProbe":
        if item.failing_since is None:
            item.failing_since = episode.start
        ledger.episode = None


def revise_latest(
    pods: Sequence[PodView],
    events: Sequence[EventView],
    ledger: Ledger,
    status: Status,
    *,
    threshold: int,
    now: datetime,
) -> None:
    """The Killing Event may reach us after the Pod status: an unpaired kill from no later
    than the newest restart's termination re-attributes that restart (no journal only)."""
    if not status.history:
        return
    newest = status.history[0]
    if newest.evidence not in ("Runtime", "None"):
        return
    if newest.reason not in ("RestartRule", "Crash", "Exited", "Unknown"):
        return
    for pod in pods:
        view = next((v for v in pod.containers() if v.name == newest.container), None)
        termination = view.last_termination if view else None
        if termination is None or termination.container_id != newest.container_id:
            continue
        container = ledger.pods[pod.uid].container(newest.container)
        if causes.liveness_kills(pod.uid, events, newest.container) <= container.kills:
            return
        finished = termination.finished_at or now
        kill_times = [
            e.last
            for e in events
            if e.pod_uid == pod.uid and e.about(newest.container) and e.is_liveness_kill and e.last
        ]
        if not kill_times or max(kill_times) > finished + SLACK:
            return  # that kill is of the new container, which has not restarted yet
        container.kills += 1
        _reattribute(status, newest, "LivenessProbe", None)
        newest.probe_failures = (
            threshold if view is None or not view.sidecar else (view.liveness_threshold or 0)
        )
        if newest.container == CONTAINER_NAME:
            close_episode(ledger, newest)


def _reattribute(status: Status, item: Restart, reason: Reason, detail: str | None) -> None:
    """The newest restart was another cause than first told, by a kubelet Killing Event that
    came late: move its count in restartReasons with it."""
    reasons = status.restart_reasons
    reasons[item.reason] -= 1
    if not reasons[item.reason]:
        del reasons[item.reason]
    item.reason, item.evidence, item.detail = reason, "KillingEvent", detail
    reasons[reason] = reasons.get(reason, 0) + 1
    status.last_restart_reason = reason


def revise_resize(
    pods: Sequence[PodView], events: Sequence[EventView], ledger: Ledger, status: Status
) -> None:
    """The kubelet's "resize requires restart" Event may reach us after the Pod status: the
    newest restart, told as a kill (the journal's SIGTERM) or an exit, was the resize's."""
    if not status.history:
        return
    newest = status.history[0]
    if newest.reason not in ("LivenessProbe", "Exited", "Unknown") or newest.evidence == (
        "KillingEvent"
    ):
        return
    for pod in pods:
        view = next((v for v in pod.containers() if v.name == newest.container), None)
        termination = view.last_termination if view else None
        if termination is None or termination.container_id != newest.container_id:
            continue
        container = ledger.pods[pod.uid].container(newest.container)
        if not causes.pair_resize(
            pod.uid, events, container, newest.container, termination.finished_at
        ):
            return
        _reattribute(status, newest, "Resize", causes.RESIZED)
        newest.probe_failures, newest.failing_since = 0, None
        newest.measured_seconds = newest.expected_seconds = None


def fill_reset_wait(status: Status, pods: Sequence[PodView]) -> None:
    """A RestartAllContainers reset is seen first with every container waiting, then started:
    the wait (the reset to the new start) of each container's newest restart once it runs."""
    for item in status.history:
        if item.reason != "RestartAllContainers" or item.back_off_seconds is not None:
            continue
        if item.expected_back_off_seconds is None:
            continue  # not the newest of a jump: its start is not known
        pod = next((p for p in pods if p.name == item.pod_name), None)
        if pod is None or pod.all_restarted_at is None:
            continue
        view = next((v for v in pod.containers() if v.name == item.container), None)
        if view is None or view.restart_count != item.restart or view.running_since is None:
            continue
        item.back_off_seconds = max(0.0, _seconds(view.running_since - pod.all_restarted_at))


def fill_recovery(status: Status, pods: Sequence[PodView]) -> None:
    """Recovery = first probe failure of the episode (or the crash) → container ready again.

    Only each live Pod's newest restart can be recovering now; an older one that was never
    seen recovering keeps recoverySeconds null rather than get a wrong number.
    """
    for pod in live_pods(pods):
        newest = next((item for item in status.history if item.pod_name == pod.name), None)
        if pod.ready and newest is not None and newest.recovery_seconds is None:
            _fill_recovery(status, pod, newest)


def _fill_recovery(status: Status, pod: PodView, newest: Restart) -> None:
    view = next((v for v in pod.containers() if v.name == newest.container), None)
    if view is None:
        return
    if newest.restart and newest.restart != view.restart_count:
        return  # a restart of an earlier Pod of the same name (0: an item that did not say)
    if view.sidecar and not view.ready:
        return
    ended = parse_time(newest.time)
    ready = pod.ready_since if not view.sidecar else view.running_since
    if ended is not None and (ready is None or ready < ended):
        ready = view.running_since  # Ready never flipped: the new container's start
    began = parse_time(newest.failing_since) or ended
    if ready is not None and began is not None and ready >= began - SLACK:
        newest.recovery_seconds = max(0.0, _seconds(ready - began))
        if status.recovery is None:
            status.recovery = Recovery()
        status.recovery.add(newest.recovery_seconds)
