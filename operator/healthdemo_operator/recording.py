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

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from healthdemo_operator import restarts
from healthdemo_operator.conditions import Phase, Problem, condition, conditions_for, phase_of
from healthdemo_operator.ledger import EventEntry, Ledger, PodEntry
from healthdemo_operator.observations import EventView, PodView, current_pod
from healthdemo_operator.probe_counters import ProbeCounts
from healthdemo_operator.timestamps import format_time, parse_time

__all__ = ["PodCounters", "Problem", "Recording", "record"]

HISTORY_LIMIT = 10
# An Event lives 1 h after its last update (kube-apiserver --event-ttl); its ledger entry is
# kept for longer, so a live Event is never counted again from zero.
EVENT_MEMORY = timedelta(hours=2)
POD_MEMORY = timedelta(hours=1)
# Clock slack between the kubelet's timestamps and ours (second precision).
SLACK = timedelta(seconds=1)
LIVENESS = "Liveness"


@dataclass(frozen=True)
class PodCounters:
    """What the kubelet's probe counters say about one Pod."""

    counts: ProbeCounts | None  # the latest counts the kubelet showed for it (None: none yet)
    at: datetime | None  # ...read at
    error: str | None = None  # the latest read of its node failed: why


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post on the HealthDemo."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Recording:
    status: dict[str, Any]
    ledger: Ledger  # the typed view of status.accounting
    notices: list[Notice] = field(default_factory=list)
    recheck_after: float | None = None  # seconds until the phase can change with no new signal


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 1)


def never_ran(pod: PodView) -> bool:
    return pod.running_since is None and pod.restart_count == 0 and pod.last_termination is None


class _Recorder:
    """One pass over the observations; holds the status being built."""

    def __init__(
        self,
        *,
        previous: Mapping[str, Any],
        spec: Mapping[str, Any],
        now: datetime,
        pods: Sequence[PodView],
        events: Sequence[EventView],
        counters: Mapping[str, PodCounters],
        ledger: Ledger | None,
    ) -> None:
        self.status: dict[str, Any] = copy.deepcopy(dict(previous))
        raw = self.status.pop("accounting", None)
        self.ledger = ledger if ledger is not None else Ledger.load(raw, events)
        self.spec, self.now = spec, now
        self.pods, self.events, self.counters = pods, events, counters
        self.notices: list[Notice] = []
        self.status.setdefault("restarts", 0)
        self.status.setdefault("probeFailures", 0)
        self.status.setdefault("history", [])
        self.status.setdefault("restartReasons", {})
        liveness = spec["livenessProbe"]
        self.period = timedelta(seconds=liveness["periodSeconds"])
        # Failures further apart than this belong to different episodes (no restart between).
        self.episode_gap = timedelta(
            seconds=liveness["periodSeconds"] * (liveness["failureThreshold"] + 1)
            + liveness["timeoutSeconds"]
        )
        # What this pass learnt from Events about each Pod's failures: (earliest first, last).
        self._event_times: dict[str, tuple[datetime, datetime]] = {}
        for pod in pods:
            self.ledger.pods.setdefault(pod.uid, PodEntry(seen=format_time(now)))

    # -- counting ----------------------------------------------------------------------------

    def count_events(self) -> None:
        """Add each Event's count delta to its Pod: liveness failures, and the Event budget."""
        for event in sorted(self.events, key=lambda e: (e.last or self.now, e.uid)):
            entry = self.ledger.events.get(event.uid)
            delta = event.count - (entry.count if entry else 0)
            if delta <= 0:
                continue
            last = event.last or self.now
            self.ledger.events[event.uid] = EventEntry(
                event.count, format_time(last), event.pod_uid
            )
            pod = self.ledger.pods.get(event.pod_uid)
            if pod is None:
                continue  # a Pod long gone from the ledger
            if event.type == "Normal":
                pod.normal_events += delta
            if event.is_liveness_failure:
                pod.events += delta
                self.status["lastProbeFailureTime"] = format_time(last)
                self.status["lastProbeFailureMessage"] = event.message
                first = max(event.first or last, last - self.period * (delta - 1))
                earlier = self._event_times.get(event.pod_uid)
                if earlier is not None:
                    first, last = min(first, earlier[0]), max(last, earlier[1])
                self._event_times[event.pod_uid] = (first, last)

    def count_kubelet(self) -> None:
        """Follow each Pod's kubelet counter; a counter that went down was reset (kubelet
        restart): what it had counted since the last read is lost."""
        for pod in self.pods:
            reading = self.counters.get(pod.uid)
            if reading is None or reading.counts is None:
                continue
            entry = self.ledger.pods[pod.uid]
            raw = reading.counts.failures(LIVENESS)
            if entry.kubelet_raw is None:
                entry.kubelet_total = raw
            elif raw >= entry.kubelet_raw:
                entry.kubelet_total += raw - entry.kubelet_raw
            else:
                entry.kubelet_total += raw
                self.ledger.add_gap(
                    "KubeletCountersReset",
                    f"the kubelet of node {pod.node_name} restarted: liveness probe failures of "
                    f"Pod {pod.name} between {entry.kubelet_at} and its restart may be missing",
                    format_time(self.now),
                )
            if raw != entry.kubelet_raw:
                entry.kubelet_raw, entry.kubelet_at = raw, format_time(reading.at)

    def count_failures(self) -> None:
        """Per Pod, the larger of the two lower bounds; the episode they belong to."""
        for pod in self.pods:
            entry = self.ledger.pods[pod.uid]
            counted = max(entry.events, entry.kubelet_total)
            delta = counted - entry.failures
            if delta <= 0:
                continue
            entry.failures = counted
            self.status["probeFailures"] += delta
            times = self._event_times.get(pod.uid)
            reading = self.counters.get(pod.uid)
            if entry.kubelet_total > entry.events and reading is not None and reading.at:
                # The kubelet counted more than its Events said: they happened by this read.
                last = reading.at
                first = last - self.period * (delta - 1)
                message = f"the kubelet counted {delta} more failed liveness probe(s)"
            elif times is not None:
                first, last = times
                message = str(self.status.get("lastProbeFailureMessage"))
            else:
                continue
            self._extend_episode(first, last, delta, message)

    def _extend_episode(self, first: datetime, last: datetime, delta: int, message: str) -> None:
        episode = self.ledger.episode
        previous_last = parse_time(episode["lastFailure"]) if episode else None
        if episode is None or previous_last is None or last - previous_last > self.episode_gap:
            episode = {"start": format_time(first), "failures": 0}
            self.notices.append(Notice("Warning", "LivenessProbeFailing", message))
        episode["failures"] += delta
        episode["lastFailure"] = format_time(max(last, previous_last or last))
        self.ledger.episode = episode

    # -- restarts ----------------------------------------------------------------------------

    def count_restarts(self) -> None:
        """One history item per restart, in order; the cause from the best evidence left."""
        threshold = int(self.spec["livenessProbe"]["failureThreshold"])
        for pod in sorted(self.pods, key=lambda p: (p.created or self.now, p.uid)):
            entry = self.ledger.pods[pod.uid]
            if pod.restart_count <= entry.restarts:
                continue
            new = range(entry.restarts, pod.restart_count)
            entry.restarts, entry.seen = pod.restart_count, format_time(self.now)
            items = [
                restarts.item_for(
                    pod, i, restarts.judge(pod, entry, i, self.events), threshold=threshold
                )
                for i in new
            ]
            self.status["restarts"] += len(items)
            reasons: dict[str, int] = self.status["restartReasons"]
            history: list[dict[str, Any]] = self.status["history"]
            for item in items:
                reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
                history.insert(0, item)
            del history[HISTORY_LIMIT:]
            self._close_episode(items[-1])
            self.status["lastRestartTime"] = items[-1]["time"] or format_time(self.now)
            self.status["lastRestartReason"] = items[-1]["reason"]
            self.notices.append(self._restart_notice(items))

    def _restart_notice(self, items: Sequence[Mapping[str, Any]]) -> Notice:
        total = self.status["restarts"]
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
            "Crash": f"the container exited with code {newest['exitCode']}",
            "Exited": "the container exited on its own with code 0",
            "OOMKilled": "the container ran out of memory",
            "Unknown": newest.get("detail") or "the cause is not known",
        }[reason]
        return Notice(
            "Warning" if reason != "LivenessProbe" else "Normal",
            "Restarted",
            f"Container restarted ({reason}): {detail}; restarts now {total}",
        )

    def _close_episode(self, item: dict[str, Any]) -> None:
        """A liveness restart ends the failure episode; it began with the episode's first
        failure unless the webapp's journal said exactly when."""
        episode = self.ledger.episode
        if episode and item["reason"] == "LivenessProbe":
            item.setdefault("failingSince", episode["start"])
            self.ledger.episode = None

    def revise_latest(self) -> None:
        """The Killing Event may reach us after the Pod status: an unpaired kill from no later
        than the newest restart's termination re-attributes that restart (no journal only)."""
        history = self.status["history"]
        if not history:
            return
        newest = history[0]
        if newest.get("evidence") not in ("Runtime", "None", None):
            return
        if newest["reason"] not in ("Crash", "Exited", "Unknown"):
            return
        for pod in self.pods:
            termination = pod.last_termination
            if termination is None or termination.container_id != newest.get("containerID"):
                continue
            entry = self.ledger.pods[pod.uid]
            if restarts.liveness_kills(pod.uid, self.events) <= entry.kills:
                return
            finished = termination.finished_at or self.now
            kill_times = [
                e.last
                for e in self.events
                if e.pod_uid == pod.uid and e.is_liveness_kill and e.last
            ]
            if not kill_times or max(kill_times) > finished + SLACK:
                return  # that kill is of the new container, which has not restarted yet
            entry.kills += 1
            reasons: dict[str, int] = self.status["restartReasons"]
            reasons[newest["reason"]] -= 1
            if not reasons[newest["reason"]]:
                del reasons[newest["reason"]]
            newest["reason"] = "LivenessProbe"
            newest["evidence"] = "KillingEvent"
            newest["probeFailures"] = int(self.spec["livenessProbe"]["failureThreshold"])
            newest.pop("detail", None)
            reasons["LivenessProbe"] = reasons.get("LivenessProbe", 0) + 1
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
        if newest.get("restart", pod.restart_count) != pod.restart_count:
            return  # a restart of an earlier Pod of the same name
        ended = parse_time(newest["time"])
        ready = pod.ready_since
        if ended is not None and (ready is None or ready < ended - SLACK):
            ready = pod.running_since  # Ready never flipped: the new container's start
        began = parse_time(newest.get("failingSince")) or ended
        if ready is not None and began is not None and ready >= began - SLACK:
            newest["recoverySeconds"] = max(0.0, _seconds(ready - began))

    # -- Pods that went away -----------------------------------------------------------------

    def settle_departed(self) -> None:
        """A deleted Pod's counts are final once the kubelet was read after its deletion was
        asked for (its probes stop then); a Pod that vanished unseen leaves a gap."""
        observed = {p.uid: p for p in self.pods}
        for uid, entry in self.ledger.pods.items():
            if entry.final:
                continue
            pod = observed.get(uid)
            if pod is None:
                entry.final = True
                self.ledger.add_gap(
                    "PodGoneUnseen",
                    f"Pod {uid} was deleted while the operator was not running: its restarts "
                    f"and probe failures after {entry.seen} may be missing",
                    format_time(self.now),
                )
                continue
            if not (pod.deleting or pod.gone):
                continue
            reading = self.counters.get(uid)
            asked = pod.deletion_requested or self.now
            if (
                pod.node_name is None
                or never_ran(pod)
                or (reading is not None and reading.at is not None and reading.at >= asked - SLACK)
            ):
                entry.final = True
            elif pod.gone:
                entry.final = True
                self.ledger.add_gap(
                    "FinalCountMissed",
                    f"Pod {pod.name} ({uid}) was deleted before the kubelet's final probe count "
                    "could be read: its liveness probe failures after "
                    f"{format_time(reading.at if reading else None)} may be missing",
                    format_time(self.now),
                )

    def prune(self) -> None:
        present = {p.uid for p in self.pods}
        for uid, entry in list(self.ledger.pods.items()):
            seen = parse_time(entry.seen)
            if (
                uid not in present
                and entry.final
                and (seen is None or self.now - seen > POD_MEMORY)
            ):
                del self.ledger.pods[uid]
        for uid, event in list(self.ledger.events.items()):
            last = parse_time(event.last)
            if last is None or self.now - last > EVENT_MEMORY:
                del self.ledger.events[uid]

    # -- completeness ------------------------------------------------------------------------

    def completeness(self) -> tuple[str, str, str]:
        """The CountsComplete condition: (status, reason, message)."""
        lower: list[tuple[str, str]] = []
        for pod in self.pods:
            reading = self.counters.get(pod.uid)
            if pod.node_name and not pod.gone and reading is not None and reading.error:
                lower.append(("KubeletUnreadable", f"probeFailures (Events only): {reading.error}"))
                break
        for gap in self.ledger.gaps:
            lower.append((gap.reason, gap.message))
        unknown = int(self.status["restartReasons"].get("Unknown", 0))
        if unknown:
            lower.append(
                (
                    "RestartCausesUnknown",
                    f"the cause of {unknown} restart(s) is not known, so the other causes "
                    "in restartReasons are lower bounds",
                )
            )
        if not lower:
            return (
                "True",
                "Exact",
                "restarts, their causes and probe failures are exact (Pod status, the webapp's "
                "journal, the kubelet's probe counters)",
            )
        return "False", lower[0][0], "Lower bounds: " + "; ".join(m for _, m in lower)

    def finish(self) -> dict[str, Any]:
        self.status["accounting"] = self.ledger.dump()
        return self.status


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
    problem: Problem | None,
    now: datetime,
) -> Recording:
    """The new status of one HealthDemo from its previous status and what was observed.

    `spec` has its defaults filled in; `pods` are the HealthDemo's Pods (live, and deleted ones
    not yet recorded); `events` the kubelet Events about them; `counters` the kubelet's probe
    counters by Pod UID (for Pods on a node); `ledger` the typed `previous["accounting"]` (parsed
    from it if not given), which this call updates.
    """
    recorder = _Recorder(
        previous=previous,
        spec=spec,
        now=now,
        pods=pods,
        events=events,
        counters=counters or {},
        ledger=ledger,
    )
    recorder.count_events()
    recorder.count_kubelet()
    recorder.count_failures()
    recorder.count_restarts()
    recorder.revise_latest()
    pod = current_pod(pods)
    recorder.fill_recovery(pod)
    recorder.settle_departed()
    recorder.prune()
    counts_state = recorder.completeness()
    status = recorder.finish()
    before: str | None = previous.get("phase")
    phase: Phase
    phase, recheck = phase_of(
        pod, problem=problem, episode=recorder.ledger.episode, status=status, spec=spec, now=now
    )
    status["phase"] = phase
    status["podName"] = pod.name if pod else pod_name
    status["observedGeneration"] = generation
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
