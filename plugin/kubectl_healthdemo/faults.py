"""The webapp's fault switches as `break --how` names them, and what the kubelet should do next.
Pure: the CLI parses `--how` with it, and `break` says what to expect from status.expected."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from kubectl_healthdemo.errors import UsageError

HOWS = (
    "start-failing",
    "fail-next=N",
    "hang=S",
    "crash",
    "crash=CODE",
    "oom",
    "readiness-off",
    "readiness-fail-next=N",
    "delete",
)
DEFAULT_HOW = "start-failing"


NO_QUERY: Mapping[str, str] = MappingProxyType({})


class Fault(NamedTuple):
    """One POST to the webapp (docs/webapp-api.md). A NamedTuple, not a dataclass: the
    command line imports this module, and `dataclasses` alone costs --help 10 ms."""

    how: str  # as given, e.g. "fail-next=2"
    path: str
    query: Mapping[str, str] = NO_QUERY
    checks: int | None = None  # fail-next: how many liveness (or readiness) checks fail
    seconds: float | None = None  # hang
    exit_code: int | None = None  # crash=CODE
    deletes: bool = False  # delete: no webapp call; the Pod itself is deleted


# What `heal` undoes: liveness (also fail-next and hang), then readiness.
HEAL = (Fault("heal", "/stop-failing"), Fault("heal", "/readyz/enable"))


def parse_how(text: str) -> Fault:
    """`--how` → the webapp call; raises UsageError naming the accepted forms."""
    name, has_value, value = text.partition("=")
    if text == "delete":
        return Fault(text, "", deletes=True)
    simple = {
        "start-failing": "/start-failing",
        "crash": "/crash",
        "oom": "/oom",
        "readiness-off": "/readyz/disable",
    }
    if name in simple and not has_value:
        return Fault(text, simple[name])
    counted = {"fail-next": "/fail-next", "readiness-fail-next": "/readyz/fail-next"}
    if name in counted and has_value:
        if not value.isdigit():
            raise UsageError(f"--how {name}=N: N must be a whole number, got {value!r}")
        return Fault(text, counted[name], {"count": value}, checks=int(value))
    if name == "crash" and has_value:
        if not value.isdigit() or int(value) > 255:
            raise UsageError(f"--how crash=CODE: CODE must be an exit code 0-255, got {value!r}")
        return Fault(text, "/crash", {"code": value}, exit_code=int(value))
    if name == "hang" and has_value:
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            raise UsageError(f"--how hang=S: S must be seconds (0 or more), got {value!r}")
        return Fault(text, "/hang", {"seconds": value}, seconds=seconds)
    raise UsageError(f"--how {text!r}: use one of {', '.join(HOWS)}")


def _seconds(value: float) -> str:
    return f"{value:g} s"


def expectation(fault: Fault, spec: Mapping[str, Any], expected: Mapping[str, Any]) -> str:
    """What the kubelet should do about `fault`, by the probe math of this HealthDemo."""
    liveness = spec.get("livenessProbe") or {}
    threshold = int(liveness.get("failureThreshold", 3))
    period = int(liveness.get("periodSeconds", 10))
    timeout = int(liveness.get("timeoutSeconds", 1))
    live = expected.get("liveness") or {}
    first_to_kill = live.get("firstFailureToActSeconds", (threshold - 1) * period)
    break_to_kill = live.get("breakToActMaxSeconds", threshold * period)
    kill = (
        f"the kubelet kills it {_seconds(first_to_kill)} after the first failed probe "
        f"({threshold} in a row, every {_seconds(period)}): at most {_seconds(break_to_kill)} "
        "from now"
    )
    if fault.deletes:
        return _deleted(spec)
    if fault.path == "/start-failing":
        return f"liveness fails from now on; {kill}"
    if fault.path == "/fail-next" and fault.checks is not None:
        if fault.checks < threshold:
            return (
                f"the next {fault.checks} liveness checks fail, fewer than failureThreshold "
                f"{threshold}: the kubelet forgives them, no restart"
            )
        return f"the next {fault.checks} liveness checks fail, at least {threshold}: {kill}"
    if fault.path == "/hang" and fault.seconds is not None:
        if fault.seconds < timeout:
            return (
                f"liveness answers take {_seconds(fault.seconds)}, under timeoutSeconds "
                f"{timeout}: the probes still pass"
            )
        return (
            f"liveness answers take {_seconds(fault.seconds)}, past timeoutSeconds {timeout}: "
            f"each probe times out; {kill}, plus {_seconds(timeout)} a probe"
        )
    if fault.path == "/crash":
        return _crash(fault.exit_code if fault.exit_code is not None else 1, spec)
    if fault.path == "/oom":
        return "it allocates memory until its limit: the kernel kills it (reason OOMKilled)"
    if fault.path.startswith("/readyz/"):
        return _readiness(fault, spec, expected)
    return ""


def _deleted(spec: Mapping[str, Any]) -> str:
    sleep = spec.get("preStopSleepSeconds")
    term = (
        f"its preStop sleep keeps it serving {_seconds(float(sleep))}, then SIGTERM"
        if sleep
        else "SIGTERM at once: it stops taking connections"
    )
    return (
        f"the Pod is deleted: {term}; meanwhile the Service's endpoints drop it; the operator "
        "creates its successor once it is gone"
    )


def _crash(code: int, spec: Mapping[str, Any]) -> str:
    """What the kubelet does about an exit: the operator's own reading of the container's
    restart rules and restartPolicy (one place for the rule)."""
    from healthdemo_operator.restart_rules import (  # noqa: PLC0415
        RESTART_ALL,
        first_match,
        restarted,
        rules_of,
    )

    rules = rules_of(spec.get("restartPolicyRules"))
    policy = str(spec.get("restartPolicy") or "Always")
    exits = f"the process exits with code {code}"
    rule = first_match(rules, code)
    if rule is not None and rule.action == RESTART_ALL:
        return (
            f"{exits}: {rule.describe()} matches, so the kubelet restarts every container of the "
            "Pod in place, the sidecar too (reason RestartAllContainers)"
        )
    if rule is not None:
        return (
            f"{exits}: {rule.describe()} matches, so the kubelet restarts it (reason RestartRule)"
        )
    if restarted(policy, rules, code):
        reason = "Crash" if code else "Exited"
        return f"{exits}: restartPolicy {policy} restarts it (reason {reason})"
    unmatched = ", and no restart rule matches it" if rules else ""
    return (
        f"{exits}: restartPolicy {policy} does not restart it{unmatched}: the Pod ends "
        "(phase Ended) and is kept for inspection"
    )


def _readiness(fault: Fault, spec: Mapping[str, Any], expected: Mapping[str, Any]) -> str:
    ready = expected.get("readiness")
    if ready is None:
        return "readiness fails, but this HealthDemo has no readiness probe: nothing happens"
    first = _seconds(ready["firstFailureToActSeconds"])
    out = f"out of service {first} after the first failed probe"
    if fault.checks is None:
        return f"readiness fails: {out}, never restarted (heal brings it back)"
    probe = spec.get("readinessProbe") or {}
    threshold = int(probe.get("failureThreshold", 3))
    if fault.checks < threshold:
        return (
            f"the next {fault.checks} readiness checks fail, fewer than failureThreshold "
            f"{threshold}: the Pod stays ready"
        )
    spell = fault.checks - threshold
    period = int(probe.get("periodSeconds", 10))
    return (
        f"the next {fault.checks} readiness checks fail, at least {threshold}: {out}, for about "
        f"{spell} period(s) of {_seconds(period)} (the kubelet probes again at once when the Pod "
        "turns not ready, which uses one up), then ready again without a restart"
    )
