"""The conditions of a HealthDemo (Ready, Healthy): what its status says in words. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from healthdemo_operator.hints import IMAGE_HINT
from healthdemo_operator.observations import PodView
from healthdemo_operator.restart_rules import GATES, first_match
from healthdemo_operator.status.completeness import State
from healthdemo_operator.status.phase import Phase, Problem
from healthdemo_operator.status.status import Condition
from healthdemo_operator.timestamps import format_time


def condition(
    previous: Sequence[Condition], *, kind: str, state: State, generation: int, now: datetime
) -> Condition:
    """A condition whose lastTransitionTime moves only when its status changes."""
    status, reason, message = state
    before = next((c for c in previous if c.type == kind), None)
    since = before.last_transition_time if before and before.status == status else None
    return Condition(kind, status, reason, message, since or format_time(now), generation)


def ended_message(pod: PodView) -> str:
    """Why a Pod ended (phase Succeeded or Failed) and what the user can do: the kubelet runs
    nothing of it again, so the operator keeps it for inspection instead of replacing it."""
    end = pod.ended
    if end is None:
        return f"Pod {pod.name} has ended ({pod.phase}); change the spec for a new Pod"
    told = pod.journal.ends.get(pod.restart_count) if pod.journal is not None else None
    how = {
        "sigterm": " when the kubelet stopped it (a probe's kill)",
        "oom": ": it ran out of memory",
    }.get(told.cause if told else "", "")
    if end.reason == "OOMKilled":
        how = ": it ran out of memory"
    why = f"restartPolicy {pod.restart_policy} restarts no exit with code {end.exit_code}"
    if pod.restart_policy == "Always":
        why = "the kubelet stopped it"  # evicted, or the node's doing: not a restart policy's
    elif (rule := first_match(pod.restart_rules, end.exit_code)) is not None:
        # The API server kept the rule, yet the kubelet ended the Pod: its node lacks the gate.
        gate = GATES.get(rule.action, "ContainerRestartRules")
        why = (
            f"{rule.describe()} matched it, but the node's kubelet did not act on it (its "
            f"feature gate {gate} is off there)"
        )
    elif pod.restart_rules:
        why += ", and no restart rule matched it"
    return (
        f"Pod {pod.name} has ended ({pod.phase}): the container exited with code "
        f"{end.exit_code}{how}; {why}. The Pod is kept as it ended, for inspection; change the "
        "spec (or delete and apply the HealthDemo again) for a new Pod"
    )


def _replicas_ready(live: Sequence[PodView], replicas: int) -> State:
    """Ready when every replica's Pod is: the Service then has them all to send to."""
    ready = [p for p in live if p.ready]
    said = f"{len(ready)}/{replicas} Pods ready"
    if len(ready) == replicas:
        return ("True", "PodsReady", said)
    why = [f"{p.name} is not ready" for p in live if not p.ready]
    if replicas > len(live):
        why.append(f"{replicas - len(live)} not created yet")
    return ("False", "PodsNotReady", f"{said}: {', '.join(why)}")


def conditions_for(
    phase: Phase,
    *,
    pod: PodView | None,
    live: Sequence[PodView] = (),
    replicas: int = 1,
    problem: Problem | None,
    previous: Sequence[Condition],
    last_failure_message: str | None,
    spec: Mapping[str, Any],
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Ready and Healthy: the Pod's readiness, and what its liveness probe says."""
    if problem is not None:
        ready = ("False", problem.reason, problem.message)
        healthy = ("False", problem.reason, problem.message)
    elif pod is None:
        ready = ("False", "NoPod", "the Pod does not exist yet")
        healthy = ("Unknown", "NoPod", "the Pod does not exist yet")
    else:
        if replicas > 1:
            ready = _replicas_ready(live, replicas)
        elif pod.ready:
            ready = ("True", "PodReady", f"Pod {pod.name} is ready")
        else:
            ready = ("False", "PodNotReady", f"Pod {pod.name} is not ready")
        healthy = {
            "Running": ("True", "LivenessProbeSucceeding", "no recent liveness probe failures"),
            "Failing": (
                "False",
                "LivenessProbeFailing",
                last_failure_message or "liveness probe failing",
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
            "Ended": ("False", "PodEnded", ended_message(pod)),
            "Invalid": ("False", "Invalid", ""),
        }[phase]
        if phase in ("ImagePullError", "Ended"):
            ready = ("False", healthy[1], healthy[2])
    return [
        condition(previous, kind="Ready", state=ready, generation=generation, now=now),
        condition(previous, kind="Healthy", state=healthy, generation=generation, now=now),
    ]
