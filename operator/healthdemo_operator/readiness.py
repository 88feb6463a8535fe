"""Spells out of service: the Pod's Ready condition going True → False → True, and for how long.

Every Ready state the watch showed is followed in order (`ready_seen`, then the Pod as it is
now), so a spell that began and ended between two reconciles is measured like any other. The
kubelet says when Ready last changed (its lastTransitionTime), not how often: a spell that began
and ended while the operator was away shows only as a newer transition time. Such a spell is
counted (it surely happened) with its length unknown, and recorded as a gap.
"""

from __future__ import annotations

from typing import Any

from healthdemo_operator.ledger import PodEntry
from healthdemo_operator.observations import Readiness, current_pod, readiness_of
from healthdemo_operator.recording_pass import RecordingPass
from healthdemo_operator.timestamps import format_time, parse_time


def follow(p: RecordingPass) -> None:
    readiness: dict[str, Any] = p.status.setdefault(
        "readiness", {"outOfService": 0, "outOfServiceSeconds": 0.0}
    )
    pod = current_pod(p.pods)
    if pod is None or pod.deleting:
        return
    for state in [*p.ready_seen.get(pod.uid, ()), readiness_of(pod)]:
        _step(p, readiness, pod.name, p.ledger.pods[pod.uid], state)


def _step(
    p: RecordingPass, readiness: dict[str, Any], pod_name: str, entry: PodEntry, state: Readiness
) -> None:
    """One Ready state of the Pod, after the one the ledger remembers."""
    changed_at = format_time(state.changed) if state.changed else None
    if entry.ready is True and not state.ready:
        readiness["outOfService"] += 1
        entry.out_since = changed_at or format_time(p.now)
        readiness["notReadySince"] = entry.out_since
    elif entry.ready is True and state.ready and changed_at != entry.ready_at:
        readiness["outOfService"] += 1
        p.ledger.add_gap(
            "ReadinessSpellUnseen",
            f"Pod {pod_name} left service and came back (ready again at {changed_at}) while the "
            "operator was away: that spell's length is unknown",
            changed_at,
        )
    elif entry.ready is False and state.ready and entry.out_since and state.changed:
        since = parse_time(entry.out_since)
        if since is not None:
            spell = round((state.changed - since).total_seconds(), 1)
            readiness["lastOutOfServiceSeconds"] = spell
            readiness["outOfServiceSeconds"] = round(readiness["outOfServiceSeconds"] + spell, 1)
        entry.out_since = None
        readiness.pop("notReadySince", None)
    entry.ready, entry.ready_at = state.ready, changed_at
