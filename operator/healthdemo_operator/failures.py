"""Liveness probe failures: each source's count in the ledger, the larger lower bound in the
status, and the failure episode they belong to (failures with no restart between)."""

from __future__ import annotations

from datetime import datetime

from healthdemo_operator.ledger import EventEntry, Tally
from healthdemo_operator.recording_pass import Notice, RecordingPass
from healthdemo_operator.timestamps import format_time, parse_time

LIVENESS = "Liveness"
# The other probes' failures, by the kubelet's probe_type, and the status field each adds up in.
OTHER_PROBES = {"Readiness": "readinessFailures", "Startup": "startupFailures"}


def count_events(p: RecordingPass) -> None:
    """Add each Event's count delta to its Pod: liveness failures, and the Event budget."""
    for event in sorted(p.events, key=lambda e: (e.last or p.now, e.uid)):
        entry = p.ledger.events.get(event.uid)
        delta = event.count - (entry.count if entry else 0)
        if delta <= 0:
            continue
        last = event.last or p.now
        p.ledger.events[event.uid] = EventEntry(event.count, format_time(last), event.pod_uid)
        pod = p.ledger.pods.get(event.pod_uid)
        if pod is None:
            continue  # a Pod long gone from the ledger
        if event.type == "Normal":
            pod.normal_events += delta
        other = event.other_probe_failed
        if other is not None:
            pod.others.setdefault(other, Tally()).events += delta
        if event.is_liveness_failure:
            pod.events += delta
            p.status["lastProbeFailureTime"] = format_time(last)
            p.status["lastProbeFailureMessage"] = event.message
            first = max(event.first or last, last - p.period * (delta - 1))
            earlier = p.event_times.get(event.pod_uid)
            if earlier is not None:
                first, last = min(first, earlier[0]), max(last, earlier[1])
            p.event_times[event.pod_uid] = (first, last)


def count_kubelet(p: RecordingPass) -> None:
    """Follow each Pod's kubelet counter; a counter that went down was reset (kubelet
    restart): what it had counted since the last read is lost."""
    for pod in p.pods:
        reading = p.counters.get(pod.uid)
        if reading is None or reading.counts is None:
            continue
        entry = p.ledger.pods[pod.uid]
        raw = reading.counts.failures(LIVENESS)
        if entry.kubelet_raw is None:
            entry.kubelet_total = raw
        elif raw >= entry.kubelet_raw:
            entry.kubelet_total += raw - entry.kubelet_raw
        else:
            entry.kubelet_total += raw
            p.ledger.add_gap(
                "KubeletCountersReset",
                f"the kubelet of node {pod.node_name} restarted: liveness probe failures of "
                f"Pod {pod.name} between {entry.kubelet_at} and its restart may be missing",
                format_time(p.now),
            )
        if raw != entry.kubelet_raw:
            entry.kubelet_raw, entry.kubelet_at = raw, format_time(reading.at)
        for kind in OTHER_PROBES:
            other = reading.counts.failures(kind)
            if other or kind in entry.others:
                _follow(entry.others.setdefault(kind, Tally()), other)


def _follow(tally: Tally, raw: int) -> None:
    """The kubelet's counter for one more probe; a reset is already a gap of the liveness's."""
    if tally.raw is None:
        tally.total = raw
    elif raw >= tally.raw:
        tally.total += raw - tally.raw
    else:
        tally.total += raw
    tally.raw = raw


def count_other_failures(p: RecordingPass) -> None:
    """Readiness and startup failures: per Pod the larger of the two sources, as for liveness."""
    for field_name in OTHER_PROBES.values():
        p.status.setdefault(field_name, 0)
    for pod in p.pods:
        for kind, tally in p.ledger.pods[pod.uid].others.items():
            counted = max(tally.events, tally.total)
            if counted > tally.counted:
                p.status[OTHER_PROBES[kind]] += counted - tally.counted
                tally.counted = counted


def count_failures(p: RecordingPass) -> None:
    """Per Pod, the larger of the two lower bounds; the episode they belong to."""
    for pod in p.pods:
        entry = p.ledger.pods[pod.uid]
        counted = max(entry.events, entry.kubelet_total)
        delta = counted - entry.failures
        if delta <= 0:
            continue
        entry.failures = counted
        p.status["probeFailures"] += delta
        times = p.event_times.get(pod.uid)
        reading = p.counters.get(pod.uid)
        if entry.kubelet_total > entry.events and reading is not None and reading.at:
            # The kubelet counted more than its Events said: they happened by this read.
            last = reading.at
            first = last - p.period * (delta - 1)
            message = f"the kubelet counted {delta} more failed liveness probe(s)"
        elif times is not None:
            first, last = times
            message = str(p.status.get("lastProbeFailureMessage"))
        else:
            continue
        extend_episode(p, first, last, delta, message)


def forgive(p: RecordingPass) -> None:
    """An episode that ended without a restart: the failures the kubelet forgave, told as
    "N of M" in the status and an Event, because users ask which failures were ignored."""
    episode = p.ledger.episode
    last = parse_time(episode.get("lastFailure")) if episode else None
    if episode is None or last is None or p.now - last <= p.episode_gap:
        return
    threshold = int(p.spec["livenessProbe"]["failureThreshold"])
    failures = int(episode["failures"])
    p.status["lastForgiven"] = {
        "failures": failures,
        "failureThreshold": threshold,
        "from": episode["start"],
        "to": episode["lastFailure"],
    }
    p.notices.append(
        Notice(
            "Normal",
            "LivenessFailuresForgiven",
            f"{failures} of {threshold} liveness probe failures, no restart: fewer than "
            f"failureThreshold in a row (from {episode['start']} to {episode['lastFailure']})",
        )
    )
    p.ledger.episode = None


def extend_episode(
    p: RecordingPass, first: datetime, last: datetime, delta: int, message: str
) -> None:
    episode = p.ledger.episode
    previous_last = parse_time(episode["lastFailure"]) if episode else None
    if episode is None or previous_last is None or last - previous_last > p.episode_gap:
        episode = {"start": format_time(first), "failures": 0}
        p.notices.append(Notice("Warning", "LivenessProbeFailing", message))
    episode["failures"] += delta
    episode["lastFailure"] = format_time(max(last, previous_last or last))
    p.ledger.episode = episode


# -- restarts ----------------------------------------------------------------------------
