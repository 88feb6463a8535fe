"""Spells out of service: the Pod's Ready condition going True → False → True, and for how long.

Every Ready state the watch showed is followed in order (`ready_seen`, then the Pod as it is
now), so a spell that began and ended between two reconciles is measured like any other. The
kubelet says when Ready last changed (its lastTransitionTime), not how often: a spell that began
and ended while the operator was away shows only as a newer transition time. Such a spell is
counted (it surely happened) with its length unknown, and recorded as a gap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from healthdemo_operator.observations import PodView, Readiness, live_pods, readiness_of
from healthdemo_operator.status.ledger import Ledger, PodEntry
from healthdemo_operator.status.status import Service
from healthdemo_operator.timestamps import format_time, parse_time


class Spell(NamedTuple):
    """One spell out of service that just ended, with its two ends."""

    pod: PodView
    began: datetime
    ended: datetime


def follow(
    pods: Sequence[PodView],
    ready_seen: Mapping[str, Sequence[Readiness]],
    ledger: Ledger,
    service: Service,
    *,
    now: datetime,
) -> list[Spell]:
    """Every Ready state each live Pod showed since the last write, then its state now: a spell
    is one Pod's (with replicas, the others may still serve). Returns the spells that ended."""
    ended: list[Spell] = []
    for pod in live_pods(pods):
        for state in [*ready_seen.get(pod.uid, ()), readiness_of(pod)]:
            spell = _step(ledger, service, pod.name, ledger.pods[pod.uid], state, now=now)
            if spell is not None:
                ended.append(Spell(pod, *spell))
    return ended


def _step(
    ledger: Ledger,
    service: Service,
    pod_name: str,
    entry: PodEntry,
    state: Readiness,
    *,
    now: datetime,
) -> tuple[datetime, datetime] | None:
    """One Ready state of the Pod, after the one the ledger remembers; a spell that ended
    here is returned (its start and end)."""
    spell_ended = None
    changed_at = format_time(state.changed) if state.changed else None
    remembered = parse_time(entry.ready_at)
    if state.changed and remembered and state.changed < remembered:
        return None  # older than what was followed already: a view from before it
    if entry.ready is True and not state.ready:
        service.out_of_service += 1
        entry.out_since = changed_at or format_time(now)
        service.not_ready_since = entry.out_since
    elif entry.ready is True and state.ready and changed_at != entry.ready_at:
        service.out_of_service += 1
        ledger.add_gap(
            "ReadinessSpellUnseen",
            f"Pod {pod_name} left service and came back (ready again at {changed_at}) while the "
            "operator was away: that spell's length is unknown",
            changed_at,
        )
    elif entry.ready is False and state.ready and entry.out_since and state.changed:
        since = parse_time(entry.out_since)
        if since is not None:
            spell = round((state.changed - since).total_seconds(), 1)
            service.last_seconds = spell
            service.seconds = round(service.seconds + spell, 1)
            spell_ended = (since, state.changed)
        entry.out_since = None
        service.not_ready_since = None
    entry.ready, entry.ready_at = state.ready, changed_at
    return spell_ended
