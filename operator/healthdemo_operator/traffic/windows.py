"""The traffic client's failure windows, and the requests lost in a span of time. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The client's clock and the kubelet's, and the kubelet's whole-second times, may differ by this.
CLOCK_SLACK_S = 2.0


@dataclass(frozen=True)
class Window:
    """Failed requests with no success between them, as the client saw them (Unix seconds)."""

    start: float
    end: float
    failed: int
    closed_at: float | None  # the first success after it; None while it lasts


def windows_of(counts: Mapping[str, Any] | None) -> list[Window]:
    return [
        Window(
            float(w["start"]),
            float(w["end"]),
            sum(int(n) for n in (w.get("counts") or {}).values()),
            None if w.get("closedAt") is None else float(w["closedAt"]),
        )
        for w in (counts or {}).get("windows") or []
    ]


WINDOWS_KEPT = 100  # the client keeps its newest windows only (webapp.traffic.tally.WINDOWS)


def lost_between(counts: Mapping[str, Any], began: float, recovered: float) -> int | None:
    """The requests lost from `began` (the first failure, or the container's end) to
    `recovered` (ready again): every failed request of the client's windows that overlap it.
    None when that cannot be told: the client started later, its windows no longer reach back
    that far, or a window that overlaps it is still open (the loss is not over)."""
    low, high = began - CLOCK_SLACK_S, recovered + CLOCK_SLACK_S
    if float(counts.get("started") or high) > low:
        return None  # it was not sending yet
    windows = windows_of(counts)
    if len(windows) >= WINDOWS_KEPT and windows[0].start > low:
        return None  # the windows of that time are gone
    overlapping = [w for w in windows if w.end >= low and w.start <= high]
    if any(w.closed_at is None for w in overlapping):
        return None
    return sum(w.failed for w in overlapping)
