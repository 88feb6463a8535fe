"""Pods that went away: when a deleted Pod's counts are final, what was lost if it went
unseen, and when the ledger may forget it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from healthdemo_operator.kubelet.probe_counters import PodCounters
from healthdemo_operator.observations import PodView
from healthdemo_operator.status.ledger import Ledger
from healthdemo_operator.status.restarts import SLACK
from healthdemo_operator.timestamps import format_time, parse_time

# An Event lives 1 h after its last update (kube-apiserver --event-ttl); its ledger entry is
# kept for longer, so a live Event is never counted again from zero.
EVENT_MEMORY = timedelta(hours=2)
POD_MEMORY = timedelta(hours=1)


def never_ran(pod: PodView) -> bool:
    return pod.running_since is None and pod.restart_count == 0 and pod.last_termination is None


def settle_departed(
    pods: Sequence[PodView],
    counters: Mapping[str, PodCounters],
    ledger: Ledger,
    *,
    now: datetime,
) -> None:
    """A deleted Pod's counts are final once the kubelet was read after its deletion was
    asked for (its probes stop then); a Pod that vanished unseen leaves a gap."""
    observed = {pod.uid: pod for pod in pods}
    for uid, entry in ledger.pods.items():
        if entry.final:
            continue
        pod = observed.get(uid)
        if pod is None:
            entry.final = True
            ledger.add_gap(
                "PodGoneUnseen",
                f"Pod {uid} was deleted while the operator was not running: its restarts "
                f"and probe failures after {entry.seen} may be missing",
                format_time(now),
            )
            continue
        if not (pod.deleting or pod.gone):
            continue
        reading = counters.get(uid)
        asked = pod.deletion_requested or now
        if (
            pod.node_name is None
            or never_ran(pod)
            or (reading is not None and reading.at is not None and reading.at >= asked - SLACK)
        ):
            entry.final = True
        elif pod.gone:
            entry.final = True
            ledger.add_gap(
                "FinalCountMissed",
                f"Pod {pod.name} ({uid}) was deleted before the kubelet's final probe count "
                "could be read: its liveness probe failures after "
                f"{format_time(reading.at if reading else None)} may be missing",
                format_time(now),
            )


def prune(pods: Sequence[PodView], ledger: Ledger, *, now: datetime) -> None:
    """Forget Pods long gone and Events long expired: nothing can bring them back."""
    present = {pod.uid for pod in pods}
    for uid, entry in list(ledger.pods.items()):
        seen = parse_time(entry.seen)
        if uid not in present and entry.final and (seen is None or now - seen > POD_MEMORY):
            del ledger.pods[uid]
    for uid, event in list(ledger.events.items()):
        last = parse_time(event.last)
        if last is None or now - last > EVENT_MEMORY:
            del ledger.events[uid]
