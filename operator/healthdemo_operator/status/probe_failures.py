"""Probe failures: each source's count in the ledger, per Pod, container and probe; the larger
lower bound added to the status; and the liveness episode they belong to (failures with no
restart between), which a kill closes or the kubelet forgives.

One shape for every probe: the kubelet's Events (immediate, but at most about 25 per Pod) and its
`prober_probe_total` counter (never rate-limited, read every few seconds) each give a lower
bound, and the larger one is exact whenever either is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from healthdemo_operator.kubelet.probe_counters import PodCounters
from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_operator.observations import EventView, PodView
from healthdemo_operator.status.ledger import LIVENESS, Episode, EventEntry, Ledger
from healthdemo_operator.status.recording import Notice
from healthdemo_operator.status.status import PROBE_FIELDS, Forgiven, Status
from healthdemo_operator.timestamps import format_time, parse_time


@dataclass(frozen=True)
class Pace:
    """How a HealthDemo's liveness probe runs: how far apart its failures are, and when two
    failures belong to different episodes (further apart than a kill would have taken)."""

    period: timedelta
    episode_gap: timedelta
    threshold: int

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> Pace:
        liveness = spec["livenessProbe"]
        period, threshold = int(liveness["periodSeconds"]), int(liveness["failureThreshold"])
        return cls(
            period=timedelta(seconds=period),
            episode_gap=timedelta(
                seconds=period * (threshold + 1) + int(liveness["timeoutSeconds"])
            ),
            threshold=threshold,
        )


# When the Events of this pass say each Pod's liveness probe failed: (earliest, last).
EventTimes = dict[str, tuple[datetime, datetime]]


def count_events(
    events: Sequence[EventView], ledger: Ledger, status: Status, *, pace: Pace, now: datetime
) -> EventTimes:
    """Add each Event's count delta to its Pod: probe failures, and the Event budget."""
    times: EventTimes = {}
    for event in sorted(events, key=lambda e: (e.last or now, e.uid)):
        entry = ledger.events.get(event.uid)
        delta = event.count - (entry.count if entry else 0)
        if delta <= 0:
            continue
        last = event.last or now
        ledger.events[event.uid] = EventEntry(event.count, format_time(last), event.pod_uid)
        pod = ledger.pods.get(event.pod_uid)
        if pod is None:
            continue  # a Pod long gone from the ledger
        if event.type == "Normal":
            pod.normal_events += delta
        probe = event.probe_failed
        if probe is None or not event.about(CONTAINER_NAME):
            continue  # a sidecar's failures show as its restarts: the probes here are the webapp's
        pod.container(CONTAINER_NAME).tally(probe).events += delta
        if probe == LIVENESS:
            status.last_probe_failure_time = format_time(last)
            status.last_probe_failure_message = event.message
            first = max(event.first or last, last - pace.period * (delta - 1))
            earlier = times.get(event.pod_uid)
            if earlier is not None:
                first, last = min(first, earlier[0]), max(last, earlier[1])
            times[event.pod_uid] = (first, last)
    return times


def count_kubelet(
    pods: Sequence[PodView],
    counters: Mapping[str, PodCounters],
    ledger: Ledger,
    *,
    now: datetime,
) -> None:
    """Follow each Pod's kubelet counters; a counter that went down was reset (the kubelet
    restarted): what it had counted since the last read is lost, and the ledger says so."""
    for pod in pods:
        reading = counters.get(pod.uid)
        if reading is None or reading.counts is None:
            continue
        container = ledger.pods[pod.uid].container(CONTAINER_NAME)
        read_at = format_time(reading.at)
        for probe in PROBE_FIELDS:
            raw = reading.counts.failures(probe)
            if not raw and probe != LIVENESS and probe not in container.probes:
                continue  # no such probe on the Pod
            liveness = container.probes.get(LIVENESS)
            since = liveness.at if liveness else None
            started = reading.counts.kubelet_started
            if container.tally(probe).follow(raw, read_at, started) and probe == LIVENESS:
                ledger.add_gap(
                    "KubeletCountersReset",
                    f"the kubelet of node {pod.node_name} restarted: liveness probe failures of "
                    f"Pod {pod.name} between {since} and its restart may be missing",
                    format_time(now),
                )


def count_failures(
    pods: Sequence[PodView],
    counters: Mapping[str, PodCounters],
    ledger: Ledger,
    status: Status,
    times: EventTimes,
    *,
    pace: Pace,
) -> list[Notice]:
    """Per Pod and probe, the larger of the two lower bounds into the status; liveness
    failures also into their episode."""
    notices: list[Notice] = []
    for pod in pods:
        container = ledger.pods[pod.uid].container(CONTAINER_NAME)
        for probe, tally in container.probes.items():
            delta = tally.uncounted()
            if not delta:
                continue
            status.failures[probe] = status.failures.get(probe, 0) + delta
            if probe != LIVENESS:
                continue
            reading = counters.get(pod.uid)
            if tally.total > tally.events and reading is not None and reading.at:
                # The kubelet counted more than its Events said: they happened by this read.
                last = reading.at
                first = last - pace.period * (delta - 1)
                message = f"the kubelet counted {delta} more failed liveness probe(s)"
            elif pod.uid in times:
                first, last = times[pod.uid]
                message = str(status.last_probe_failure_message)
            else:
                continue
            notices += extend_episode(ledger, first, last, delta, message, pace=pace)
    return notices


def extend_episode(
    ledger: Ledger, first: datetime, last: datetime, delta: int, message: str, *, pace: Pace
) -> list[Notice]:
    """Failures join the open episode, or open a new one (and say so)."""
    episode = ledger.episode
    previous_last = parse_time(episode.last_failure) if episode else None
    notices = []
    if episode is None or previous_last is None or last - previous_last > pace.episode_gap:
        episode = Episode(format_time(first), 0, None)
        notices.append(Notice("Warning", "LivenessProbeFailing", message))
    episode.failures += delta
    episode.last_failure = format_time(max(last, previous_last or last))
    ledger.episode = episode
    return notices


def forgive(ledger: Ledger, status: Status, *, pace: Pace, now: datetime) -> list[Notice]:
    """An episode that ended without a restart: the failures the kubelet forgave, told as
    "N of M" in the status and an Event, because users ask which failures were ignored."""
    episode = ledger.episode
    last = parse_time(episode.last_failure) if episode else None
    if episode is None or last is None or now - last <= pace.episode_gap:
        return []
    status.last_forgiven = Forgiven(
        episode.failures, pace.threshold, episode.start, episode.last_failure
    )
    ledger.episode = None
    return [
        Notice(
            "Normal",
            "LivenessFailuresForgiven",
            f"{episode.failures} of {pace.threshold} liveness probe failures, no restart: fewer "
            f"than failureThreshold in a row (from {episode.start} to {episode.last_failure})",
        )
    ]
