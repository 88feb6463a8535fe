"""Status from Pod + Events: what the kubelet did, turned into exact, durable numbers. Pure.

The kubelet's signals are lossy and repeated: a Pod's restartCount starts again at 0 in a new Pod,
and a probe-failure Event is one object whose `count` grows (and which expires after 1 h). So the
status carries an `accounting` ledger — restartCount counted per Pod UID, Event count counted per
Event UID — and only the difference to it is ever added. The ledger is written in the same status
update as the totals, so an operator restart neither counts twice nor loses a count.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from healthdemo_operator.observations import (
    IMAGE_PULL_REASONS,
    EventView,
    PodView,
    Termination,
    format_time,
    parse_time,
)

HISTORY_LIMIT = 10
# An Event lives 1 h after its last update (kube-apiserver --event-ttl); its ledger entry is
# kept for longer, so a live Event is never counted again from zero.
EVENT_MEMORY = timedelta(hours=2)
POD_MEMORY = timedelta(hours=1)
# Clock slack between the kubelet's Event timestamps and container timestamps (second precision).
SLACK = timedelta(seconds=1)

Phase = Literal[
    "Pending", "Running", "Failing", "Restarting", "CrashLoopBackOff", "ImagePullError", "Invalid"
]


@dataclass(frozen=True)
class Problem:
    """Why the operator will not (or cannot) run the Pod: shown as phase Invalid."""

    reason: str
    message: str


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post on the HealthDemo."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Recording:
    status: dict[str, Any]
    notices: list[Notice] = field(default_factory=list)
    recheck_after: float | None = None  # seconds until the phase can change with no new signal


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


def attribute(termination: Termination | None, liveness_kill: bool) -> str:
    """Why the previous container ended: a liveness kill, else what lastState.terminated says."""
    if termination is not None and termination.reason == "OOMKilled":
        return "OOMKilled"
    if liveness_kill:
        return "LivenessProbe"
    if termination is not None and termination.exit_code != 0:
        return "Crash"
    return "Unknown"


def liveness_kills(pod_uid: str, events: Sequence[EventView]) -> int:
    """How many times the kubelet killed this Pod's container for its liveness probe."""
    return sum(e.count for e in events if e.pod_uid == pod_uid and e.is_liveness_kill)


class _Recorder:
    """One pass over the observations; holds the status being built."""

    def __init__(self, previous: Mapping[str, Any], spec: Mapping[str, Any], now: datetime) -> None:
        self.status: dict[str, Any] = copy.deepcopy(dict(previous))
        self.spec = spec
        self.now = now
        self.notices: list[Notice] = []
        ledger = self.status.setdefault("accounting", {})
        self.pods_ledger: dict[str, Any] = ledger.setdefault("pods", {})
        self.events_ledger: dict[str, Any] = ledger.setdefault("events", {})
        self.ledger = ledger
        self.status.setdefault("restarts", 0)
        self.status.setdefault("probeFailures", 0)
        self.status.setdefault("history", [])
        liveness = spec["livenessProbe"]
        # Failures further apart than this belong to different episodes (no restart between).
        self.episode_gap = timedelta(
            seconds=liveness["periodSeconds"] * (liveness["failureThreshold"] + 1)
            + liveness["timeoutSeconds"]
        )

    # -- probe failures --------------------------------------------------------------------

    def count_probe_failures(self, events: Sequence[EventView]) -> None:
        period = timedelta(seconds=self.spec["livenessProbe"]["periodSeconds"])
        for event in sorted(events, key=lambda e: (e.last or self.now, e.uid)):
            if not event.is_liveness_failure:
                continue
            entry = self.events_ledger.get(event.uid) or {"count": 0}
            delta = event.count - int(entry["count"])
            if delta <= 0:
                continue
            last = event.last or self.now
            self.events_ledger[event.uid] = {"count": event.count, "last": format_time(last)}
            self.status["probeFailures"] += delta
            self.status["lastProbeFailureTime"] = format_time(last)
            self.status["lastProbeFailureMessage"] = event.message
            episode = self.ledger.get("episode")
            previous_last = parse_time(episode["lastFailure"]) if episode else None
            if episode is None or previous_last is None or last - previous_last > self.episode_gap:
                # Aggregation can hand us several failures at once: the first was earlier.
                first = max(event.first or last, last - period * (delta - 1))
                episode = {"start": format_time(first), "failures": 0}
                self.notices.append(Notice("Warning", "LivenessProbeFailing", event.message))
            episode["failures"] += delta
            episode["lastFailure"] = format_time(last)
            self.ledger["episode"] = episode

    # -- restarts --------------------------------------------------------------------------

    def count_restarts(self, pods: Sequence[PodView], events: Sequence[EventView]) -> None:
        """Add restartCount deltas; pair each restart with a not yet used liveness kill.

        Kills are counted like restarts (Killing Event counts minus those already paired), so
        an old kill is never paired with a later crash, whatever the timestamps say.
        """
        for pod in sorted(pods, key=lambda p: (p.created or self.now, p.uid)):
            entry = self.pods_ledger.get(pod.uid)
            counted = int(entry["restarts"]) if entry else 0
            paired = int(entry.get("kills", 0)) if entry else 0
            delta = pod.restart_count - counted
            if entry is not None and delta <= 0:
                continue
            kills = min(max(delta, 0), max(liveness_kills(pod.uid, events) - paired, 0))
            # `seen` moves only with the count, so an unchanged Pod leaves the status unchanged.
            self.pods_ledger[pod.uid] = {
                "restarts": max(pod.restart_count, counted),
                "kills": paired + kills,
                "seen": format_time(self.now),
            }
            if delta <= 0:
                continue
            self.status["restarts"] += delta
            self._add_history(pod, delta, liveness_kill=kills > 0)

    def _add_history(self, pod: PodView, restarts: int, *, liveness_kill: bool) -> None:
        termination = pod.last_termination
        reason = attribute(termination, liveness_kill)
        when = (termination.finished_at if termination else None) or self.now
        item: dict[str, Any] = {
            "time": format_time(when),
            "reason": reason,
            "exitCode": termination.exit_code if termination else None,
            "probeFailures": 0,
            "recoverySeconds": None,
            "podName": pod.name,
            "containerID": termination.container_id if termination else None,
        }
        if restarts > 1:
            item["restarts"] = restarts  # the operator saw several at once: only the last in detail
        self._close_episode(item)
        history: list[dict[str, Any]] = self.status["history"]
        history.insert(0, item)
        del history[HISTORY_LIMIT:]
        self.status["lastRestartTime"] = item["time"]
        self.status["lastRestartReason"] = reason
        detail = {
            "LivenessProbe": f"after {item['probeFailures']} liveness probe failure(s)",
            "Crash": f"the container exited with code {item['exitCode']}",
            "OOMKilled": "the container ran out of memory",
            "Unknown": f"the container exited with code {item['exitCode']}",
        }[reason]
        self.notices.append(
            Notice(
                "Warning" if reason != "LivenessProbe" else "Normal",
                "Restarted",
                f"Container restarted ({reason}): {detail}; restarts now {self.status['restarts']}",
            )
        )

    def _close_episode(self, item: dict[str, Any]) -> None:
        """A liveness restart ends the failure episode; its failures belong to the restart."""
        episode = self.ledger.get("episode")
        if episode and item["reason"] == "LivenessProbe":
            item["probeFailures"] = episode["failures"]
            item["failingSince"] = episode["start"]
            self.ledger["episode"] = None

    def revise_latest(self, pods: Sequence[PodView], events: Sequence[EventView]) -> None:
        """The Killing Event may reach us after the Pod status: an unpaired kill from no later
        than the newest restart's termination re-attributes that restart."""
        history = self.status["history"]
        if not history or history[0]["reason"] not in ("Crash", "Unknown"):
            return
        newest = history[0]
        for pod in pods:
            termination = pod.last_termination
            if termination is None or termination.container_id != newest.get("containerID"):
                continue
            entry = self.pods_ledger.get(pod.uid) or {}
            paired = int(entry.get("kills", 0))
            if liveness_kills(pod.uid, events) <= paired:
                return
            finished = termination.finished_at or self.now
            kill_times = [
                e.last for e in events if e.pod_uid == pod.uid and e.is_liveness_kill and e.last
            ]
            if not kill_times or max(kill_times) > finished + SLACK:
                return  # that kill is of the new container, which has not restarted yet
            entry["kills"] = paired + 1
            newest["reason"] = attribute(termination, liveness_kill=True)
            self._close_episode(newest)
            self.status["lastRestartReason"] = newest["reason"]

    def fill_recovery(self, pod: PodView | None) -> None:
        """Recovery = first probe failure of the episode (or the crash) → container ready again.

        Only the newest restart can be recovering now; an older one that was never seen
        recovering keeps recoverySeconds null rather than get a wrong number.
        """
        history = self.status["history"]
        if pod is None or not pod.ready or not history:
            return
        newest = history[0]
        if newest.get("recoverySeconds") is not None or newest.get("podName") != pod.name:
            return
        ended = parse_time(newest["time"])
        ready = pod.ready_since
        if ended is not None and (ready is None or ready < ended - SLACK):
            ready = pod.running_since  # Ready never flipped: the new container's start
        began = parse_time(newest.get("failingSince")) or ended
        if ready is not None and began is not None and ready >= began - SLACK:
            newest["recoverySeconds"] = max(0.0, _seconds(ready - began))

    # -- ledger ----------------------------------------------------------------------------

    def prune(self, pods: Sequence[PodView]) -> None:
        present = {p.uid for p in pods}
        for uid, entry in list(self.pods_ledger.items()):
            seen = parse_time(entry.get("seen"))
            if uid not in present and (seen is None or self.now - seen > POD_MEMORY):
                del self.pods_ledger[uid]
        for uid, entry in list(self.events_ledger.items()):
            last = parse_time(entry.get("last"))
            if last is None or self.now - last > EVENT_MEMORY:
                del self.events_ledger[uid]


def current_pod(pods: Sequence[PodView]) -> PodView | None:
    """The live Pod: the newest one not being deleted."""
    live = [p for p in pods if not p.deleting]
    return max(live, key=lambda p: (p.created or datetime.min, p.uid), default=None)


def phase_of(
    pod: PodView | None,
    problem: Problem | None,
    status: Mapping[str, Any],
    spec: Mapping[str, Any],
    now: datetime,
) -> tuple[Phase, float | None]:
    """The phase, and how many seconds until it may change without any new signal."""
    if problem is not None:
        return "Invalid", None
    if pod is None:
        return "Pending", None
    if pod.waiting_reason in IMAGE_PULL_REASONS:
        return "ImagePullError", None
    if pod.waiting_reason == "CrashLoopBackOff":
        return "CrashLoopBackOff", None
    episode = (status.get("accounting") or {}).get("episode")
    if pod.running_since is not None:
        if episode:
            liveness = spec["livenessProbe"]
            fresh_for = timedelta(
                seconds=liveness["periodSeconds"] * 2 + liveness["timeoutSeconds"]
            )
            last = parse_time(episode.get("lastFailure"))
            if last is not None and now - last <= fresh_for:
                return "Failing", max(0.5, (last + fresh_for - now).total_seconds())
        history = status.get("history") or []
        if history and history[0].get("recoverySeconds") is None and not pod.ready:
            return "Restarting", None
        return "Running", None
    if pod.restart_count > 0 or pod.last_termination is not None:
        return "Restarting", None
    return "Pending", None


IMAGE_HINT = (
    "If you built the image locally: on minikube build it inside minikube's Docker "
    "(`eval $(minikube docker-env)`, then `docker build -t {image} .`); on kind run "
    "`kind load docker-image {image}`; and keep imagePullPolicy IfNotPresent or Never."
)


def _condition(
    previous: Sequence[Mapping[str, Any]],
    *,
    kind: str,
    state: tuple[str, str, str],
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """A condition whose lastTransitionTime moves only when its status changes."""
    status, reason, message = state
    before = next((c for c in previous if c.get("type") == kind), {})
    since = before.get("lastTransitionTime") if before.get("status") == status else None
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or format_time(now),
        "observedGeneration": generation,
    }


def conditions_for(
    phase: Phase,
    *,
    pod: PodView | None,
    problem: Problem | None,
    status: Mapping[str, Any],
    spec: Mapping[str, Any],
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    previous = status.get("conditions") or []
    if problem is not None:
        ready = ("False", problem.reason, problem.message)
        healthy = ("False", problem.reason, problem.message)
    elif pod is None:
        ready = ("False", "NoPod", "the Pod does not exist yet")
        healthy = ("Unknown", "NoPod", "the Pod does not exist yet")
    else:
        if pod.ready:
            ready = ("True", "PodReady", f"Pod {pod.name} is ready")
        else:
            ready = ("False", "PodNotReady", f"Pod {pod.name} is not ready")
        healthy = {
            "Running": ("True", "LivenessProbeSucceeding", "no recent liveness probe failures"),
            "Failing": (
                "False",
                "LivenessProbeFailing",
                str(status.get("lastProbeFailureMessage") or "liveness probe failing"),
            ),
            "Restarting": ("False", "Restarting", "the container is restarting"),
            "CrashLoopBackOff": ("False", "CrashLoopBackOff", pod.waiting_message or ""),
            "ImagePullError": (
                "False",
                "ImagePullError",
                f"{pod.waiting_reason}: {pod.waiting_message or ''} "
                + IMAGE_HINT.format(image=spec["image"]),
            ),
            "Pending": ("Unknown", "Pending", "the container has not started yet"),
            "Invalid": ("False", "Invalid", ""),
        }[phase]
        if phase == "ImagePullError":
            ready = ("False", "ImagePullError", healthy[2])
    return [
        _condition(previous, kind="Ready", state=ready, generation=generation, now=now),
        _condition(previous, kind="Healthy", state=healthy, generation=generation, now=now),
    ]


def record(
    *,
    previous: Mapping[str, Any],
    spec: Mapping[str, Any],
    generation: int,
    pod_name: str,
    pods: Sequence[PodView],
    events: Sequence[EventView],
    problem: Problem | None,
    now: datetime,
) -> Recording:
    """The new status of one HealthDemo from its previous status and what was observed.

    `spec` has its defaults filled in; `pods` are the HealthDemo's Pods (live, and deleted ones
    not yet recorded); `events` the kubelet Events about them.
    """
    recorder = _Recorder(previous, spec, now)
    recorder.count_probe_failures(events)
    recorder.count_restarts(pods, events)
    recorder.revise_latest(pods, events)
    pod = current_pod(pods)
    recorder.fill_recovery(pod)
    recorder.prune(pods)
    status = recorder.status
    before: str | None = previous.get("phase")
    phase, recheck = phase_of(pod, problem, status, spec, now)
    status["phase"] = phase
    status["podName"] = pod.name if pod else pod_name
    status["observedGeneration"] = generation
    status["conditions"] = conditions_for(
        phase, pod=pod, problem=problem, status=status, spec=spec, generation=generation, now=now
    )
    notices = recorder.notices
    if phase != before:
        if phase == "ImagePullError" and pod is not None:
            notices.append(Notice("Warning", "ImagePullError", status["conditions"][1]["message"]))
        elif phase == "CrashLoopBackOff" and pod is not None:
            notices.append(Notice("Warning", "CrashLoopBackOff", pod.waiting_message or ""))
        elif phase == "Invalid" and problem is not None:
            notices.append(Notice("Warning", problem.reason, problem.message))
    return Recording(status=status, notices=notices, recheck_after=recheck)
