"""Restarts: one history item per restart, in order, with the cause from the best evidence left;
a late Killing Event revises the newest; recovery time once the container is ready again, also
added to the recovery histogram that outlives the history's last 10 items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from healthdemo_operator import expected, restarts
from healthdemo_operator.observations import PodView
from healthdemo_operator.recording_pass import SLACK, Notice, RecordingPass
from healthdemo_operator.timestamps import format_time, parse_time

HISTORY_LIMIT = 10
# Upper bounds (seconds) of the recovery histogram, status.recovery (served as the Prometheus
# histogram healthdemo_recovery_seconds): from fast probes' few seconds to CrashLoopBackOff's
# five minutes. Changing them splits each HealthDemo's series: keep them.
RECOVERY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


def count_restarts(p: RecordingPass) -> None:
    """One history item per restart, in order; the cause from the best evidence left."""
    threshold = int(p.spec["livenessProbe"]["failureThreshold"])
    math = expected.probe_math(p.spec)
    for pod in sorted(p.pods, key=lambda pod: (pod.created or p.now, pod.uid)):
        entry = p.ledger.pods[pod.uid]
        if pod.restart_count <= entry.restarts:
            continue
        new = range(entry.restarts, pod.restart_count)
        entry.restarts, entry.seen = pod.restart_count, format_time(p.now)
        items = [
            restarts.item_for(
                pod,
                i,
                restarts.judge(pod, entry, i, p.events),
                threshold=threshold,
                expected=math,
            )
            for i in new
        ]
        p.status["restarts"] += len(items)
        reasons: dict[str, int] = p.status["restartReasons"]
        history: list[dict[str, Any]] = p.status["history"]
        for item in items:
            reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
            history.insert(0, item)
        del history[HISTORY_LIMIT:]
        close_episode(p, items[-1])
        p.status["lastRestartTime"] = items[-1]["time"] or format_time(p.now)
        p.status["lastRestartReason"] = items[-1]["reason"]
        p.notices.append(_restart_notice(p, items))


def _restart_notice(p: RecordingPass, items: Sequence[Mapping[str, Any]]) -> Notice:
    total = p.status["restarts"]
    newest = items[-1]
    if len(items) > 1:
        counts: dict[str, int] = {}
        for item in items:
            counts[item["reason"]] = counts.get(item["reason"], 0) + 1
        told = ", ".join(f"{reason} x{n}" for reason, n in counts.items())
        return Notice(
            "Warning",
            "Restarted",
            f"Container restarted {len(items)} times since last seen ({told}); "
            f"restarts now {total}",
        )
    reason = newest["reason"]
    detail = {
        "LivenessProbe": f"after {newest['probeFailures']} liveness probe failure(s)",
        "StartupProbe": (
            f"after {newest['probeFailures']} startup probe failure(s): it did not start within "
            "the startup probe's budget"
        ),
        "Crash": f"the container exited with code {newest['exitCode']}",
        "Exited": "the container exited on its own with code 0",
        "OOMKilled": "the container ran out of memory",
        "Unknown": newest.get("detail") or "the cause is not known",
    }[reason]
    return Notice(
        "Normal" if reason in ("LivenessProbe", "StartupProbe") else "Warning",
        "Restarted",
        f"Container restarted ({reason}): {detail}; restarts now {total}",
    )


def close_episode(p: RecordingPass, item: dict[str, Any]) -> None:
    """A liveness restart ends the failure episode; it began with the episode's first
    failure unless the webapp's journal said exactly when."""
    episode = p.ledger.episode
    if episode and item["reason"] == "LivenessProbe":
        item.setdefault("failingSince", episode["start"])
        p.ledger.episode = None


def revise_latest(p: RecordingPass) -> None:
    """The Killing Event may reach us after the Pod status: an unpaired kill from no later
    than the newest restart's termination re-attributes that restart (no journal only)."""
    history = p.status["history"]
    if not history:
        return
    newest = history[0]
    if newest.get("evidence") not in ("Runtime", "None", None):
        return
    if newest["reason"] not in ("Crash", "Exited", "Unknown"):
        return
    for pod in p.pods:
        termination = pod.last_termination
        if termination is None or termination.container_id != newest.get("containerID"):
            continue
        entry = p.ledger.pods[pod.uid]
        if restarts.liveness_kills(pod.uid, p.events) <= entry.kills:
            return
        finished = termination.finished_at or p.now
        kill_times = [
            e.last for e in p.events if e.pod_uid == pod.uid and e.is_liveness_kill and e.last
        ]
        if not kill_times or max(kill_times) > finished + SLACK:
            return  # that kill is of the new container, which has not restarted yet
        entry.kills += 1
        reasons: dict[str, int] = p.status["restartReasons"]
        reasons[newest["reason"]] -= 1
        if not reasons[newest["reason"]]:
            del reasons[newest["reason"]]
        newest["reason"] = "LivenessProbe"
        newest["evidence"] = "KillingEvent"
        newest["probeFailures"] = int(p.spec["livenessProbe"]["failureThreshold"])
        newest.pop("detail", None)
        reasons["LivenessProbe"] = reasons.get("LivenessProbe", 0) + 1
        close_episode(p, newest)
        p.status["lastRestartReason"] = newest["reason"]


def fill_recovery(p: RecordingPass, pod: PodView | None) -> None:
    """Recovery = first probe failure of the episode (or the crash) → container ready again.

    Only the newest restart can be recovering now; an older one that was never seen
    recovering keeps recoverySeconds null rather than get a wrong number.
    """
    history = p.status["history"]
    if pod is None or not pod.ready or not history:
        return
    newest = history[0]
    if newest.get("recoverySeconds") is not None or newest.get("podName") != pod.name:
        return
    if newest.get("restart", pod.restart_count) != pod.restart_count:
        return  # a restart of an earlier Pod of the same name
    ended = parse_time(newest["time"])
    ready = pod.ready_since
    if ended is not None and (ready is None or ready < ended - SLACK):
        ready = pod.running_since  # Ready never flipped: the new container's start
    began = parse_time(newest.get("failingSince")) or ended
    if ready is not None and began is not None and ready >= began - SLACK:
        newest["recoverySeconds"] = max(0.0, _seconds(ready - began))
        add_recovery(p.status, newest["recoverySeconds"])


def bucket_key(bound: float) -> str:
    """A bound as status.recovery.buckets names it: "2.5", "10"."""
    return f"{bound:g}"


def add_recovery(status: dict[str, Any], seconds: float) -> None:
    """Count one recovery into the histogram in the status: cumulative bucket counts (as
    Prometheus' `le`), their sum and count. Called only where an item's recoverySeconds is set,
    which happens once, in the same write: so each restart is in it exactly once, whatever
    restarts the operator goes through."""
    recovery = status.setdefault("recovery", {"count": 0, "sumSeconds": 0.0, "buckets": {}})
    recovery["count"] = int(recovery.get("count") or 0) + 1
    recovery["sumSeconds"] = round(float(recovery.get("sumSeconds") or 0) + seconds, 1)
    buckets: dict[str, int] = recovery.setdefault("buckets", {})
    for bound in RECOVERY_BUCKETS:
        key = bucket_key(bound)
        buckets[key] = int(buckets.get(key) or 0) + int(seconds <= bound)


# -- Pods that went away -----------------------------------------------------------------
