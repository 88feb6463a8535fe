"""The conditions of a HealthDemo (Ready, Healthy): what its status says in words. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from healthdemo_operator.hints import IMAGE_HINT
from healthdemo_operator.observations import PodView
from healthdemo_operator.phase import Phase, Problem
from healthdemo_operator.timestamps import format_time


def condition(
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
        condition(previous, kind="Ready", state=ready, generation=generation, now=now),
        condition(previous, kind="Healthy", state=healthy, generation=generation, now=now),
    ]
