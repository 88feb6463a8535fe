"""What a fault cost in requests, against what was predicted: the traffic lessons' verdict. Pure.

The operator tells each episode's cost from the traffic client's failure windows: a restart's on
its history item (first failure, or the end, to ready again), a spell out of service's and a Pod
deletion's in status.traffic.episodes. The prediction comes from the spec alone: the rate, the
replicas that share it, the probe math and the episode's own length as the kubelet dated it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

# What the lesson predicts the episode costs:
# - all: every request while out of service (one replica: nowhere else to go);
# - some: at least every request from the first failed probe to the kill (one replica);
# - share: at most the broken Pod's share until the endpoints drop it (the others serve);
# - none: not one (another replica serves, or a preStop sleep keeps it serving meanwhile).
Loss = Literal["all", "some", "share", "none"]
# The endpoints' update after a Pod turns not ready or is deleted (EndpointSlice controller,
# then kube-proxy), plus the client's and the kubelet's whole-second clocks: seconds.
PROPAGATION_S = 2.0
ROUNDING_S = 1.0  # the kubelet's whole-second Ready transitions
APP_START_S = 2.0  # gunicorn's start: a container without a readiness probe is Ready before it


def episode(kind: str, before: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, Any]:
    """The step's episode: the newest restart, or the newest traffic episode of `kind` that is
    not in `before`; {} while there is none."""
    if kind == "Restart":
        if int(now.get("restarts") or 0) <= int(before.get("restarts") or 0):
            return {}
        newest: dict[str, Any] = (now.get("history") or [{}])[0]
        return newest
    seen = {(e.get("podUID"), e.get("start")) for e in _episodes(before)}
    return next(
        (
            e
            for e in _episodes(now)
            if e.get("kind") == kind and (e.get("podUID"), e.get("start")) not in seen
        ),
        {},
    )


def _episodes(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((status.get("traffic") or {}).get("episodes") or [])


def told(kind: str, before: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    """Whether the operator has told the episode's cost (it waits for the client's windows)."""
    return episode(kind, before, now).get("requestsLost") is not None


def judge(
    loss: Loss, kind: str, before: Mapping[str, Any], now: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> list[tuple[bool, str]]:  # fmt: skip
    found = episode(kind, before, now)
    lost = found.get("requestsLost")
    if lost is None:
        return [(False, f"the requests lost in the {kind} episode were not told")]
    rate = float((spec.get("traffic") or {}).get("ratePerSecond") or 0)
    replicas = int(spec.get("replicas") or 1)
    seconds = found.get("recoverySeconds" if kind == "Restart" else "seconds")
    window = float(seconds) if seconds is not None else 0.0
    said = f"requests lost {lost} at {rate:g}/s"
    liveness = (now.get("expected") or {}).get("liveness") or {}
    if loss == "all":
        predicted = rate * window
        slack = rate * (PROPAGATION_S + ROUNDING_S)
        fits = abs(lost - predicted) <= slack
        return [(fits, f"{said}; predicted all of them while out of service: {rate:g}/s x "
                       f"{window:g} s = {predicted:g} (± {slack:g}: the endpoints' update at "
                       "each end, whole-second times)")]  # fmt: skip
    if loss == "some":
        first = float(liveness.get("firstFailureToActSeconds") or 0)
        low = rate * first
        period = float((spec.get("livenessProbe") or {}).get("periodSeconds", 10))
        high = rate * (window + period + APP_START_S + PROPAGATION_S)
        fits = low <= lost <= high
        return [(fits, f"{said}; predicted every request from the break until the app serves "
                       f"again: at least {low:g} (the kubelet's {first:g} s "
                       f"from the first failure to the kill), at most {high:g} (recovery "
                       f"{window:g} s, a period before it, the app's start after it)")]  # fmt: skip
    if loss == "share":
        if kind == "Restart":
            broken = float(liveness.get("breakToActMaxSeconds") or 0)
            why = (
                f"until the kill (at most {broken:g} s) and the endpoints' update; none while "
                "it restarts"
            )
        else:
            broken = 0.0
            why = "after SIGTERM, until the endpoints drop it"
        high = rate / replicas * (broken + PROPAGATION_S)
        fits = lost <= high
        return [(fits, f"{said}; predicted at most the broken Pod's share (1 of {replicas}) "
                       f"{why}: at most {high:g}")]  # fmt: skip
    why = (
        "its preStop sleep kept it serving until the endpoints dropped it"
        if kind == "PodDeleted"
        else "the other replica served every request"
    )
    return [(lost == 0, f"{said}; predicted 0: {why}")]
