"""The phase of a HealthDemo: one word for where its Pod is in the self-healing story. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from healthdemo_operator.observations import IMAGE_PULL_REASONS, PodView
from healthdemo_operator.status.ledger import Episode
from healthdemo_operator.status.status import Restart
from healthdemo_operator.timestamps import parse_time

Phase = Literal[
    "Pending",
    "Running",
    "Failing",
    "Restarting",
    "CrashLoopBackOff",
    "ImagePullError",
    "Ended",
    "Invalid",
]
# The Pod's phases after which the kubelet runs nothing of it again.
TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Problem:
    """Why the operator will not (or cannot) run the Pod: shown as phase Invalid."""

    reason: str
    message: str


def phase_of(
    pod: PodView | None,
    *,
    problem: Problem | None,
    episode: Episode | None,
    history: Sequence[Restart],
    spec: Mapping[str, Any],
    now: datetime,
) -> tuple[Phase, float | None]:
    """The phase, and how many seconds until it may change without any new signal."""
    if problem is not None:
        return "Invalid", None
    if pod is None:
        return "Pending", None
    if pod.phase in TERMINAL:
        return "Ended", None
    if pod.waiting_reason in IMAGE_PULL_REASONS:
        return "ImagePullError", None
    if pod.waiting_reason == "CrashLoopBackOff":
        return "CrashLoopBackOff", None
    if pod.running_since is not None:
        if episode:
            liveness = spec["livenessProbe"]
            fresh_for = timedelta(
                seconds=liveness["periodSeconds"] * 2 + liveness["timeoutSeconds"]
            )
            last = parse_time(episode.last_failure)
            if last is not None and now - last <= fresh_for:
                return "Failing", max(0.5, (last + fresh_for - now).total_seconds())
        if history and history[0].recovery_seconds is None and not pod.ready:
            return "Restarting", None
        return "Running", None
    if pod.restart_count > 0 or pod.last_termination is not None:
        return "Restarting", None
    return "Pending", None
