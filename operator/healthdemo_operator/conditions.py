"""The phase and the conditions of a HealthDemo: what its status says in words. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from healthdemo_operator.observations import IMAGE_PULL_REASONS, PodView
from healthdemo_operator.timestamps import format_time, parse_time

Phase = Literal[
    "Pending", "Running", "Failing", "Restarting", "CrashLoopBackOff", "ImagePullError", "Invalid"
]


@dataclass(frozen=True)
class Problem:
    """Why the operator will not (or cannot) run the Pod: shown as phase Invalid."""

    reason: str
    message: str


def phase_of(
    pod: PodView | None,
    *,
    problem: Problem | None,
    episode: Mapping[str, Any] | None,
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
