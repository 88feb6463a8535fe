"""The lessons `kubectl healthdemo lesson NAME` runs, and how each is judged. Pure.

A lesson is a HealthDemo from `deploy/` (the same file a user can `kubectl apply`), the faults to
break it with, and for each fault what must happen: a restart with a given cause, the Pod ending,
a spell out of service, or nothing but becoming ready. The verdict compares the operator's
record (status.history, status.expected, CountsComplete) with the probe math, line by line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

from kubectl_healthdemo import lesson_traffic
from kubectl_healthdemo.lesson_traffic import Loss

# deploy/ as the plugin's package data (a link in the source tree, a copy in a wheel).
MANIFESTS = Path(__file__).resolve().parent / "manifests"
Outcome = Literal["restart", "all", "ended", "spell", "forgiven", "ready", "backoff", "replaced"]
# The traffic episode each outcome is (lesson_traffic): whose cost in requests a step judges.
EPISODE = {"restart": "Restart", "spell": "OutOfService", "replaced": "PodDeleted"}
BACKOFF_SLACK = 2.0  # seconds: whole-second timestamps, and the kubelet's own start-up of it
# The kubelet retries a Pod in back-off when its wait is over, jittered by up to half of it
# (its pod workers' requeue: wait.Jitter(remaining, 0.5)): a wait of 10 s comes after 10-15 s.
BACKOFF_JITTER = 0.5
# A RestartAllContainers reset to the new start: the containers' creation, plus a second of
# rounding (the condition's and the start's whole-second timestamps).
RESET_SLACK = BACKOFF_SLACK + 1


class Step(NamedTuple):
    """One fault (`how`, as `break --how` takes it; None: the app breaks itself) and what the
    kubelet must do about it."""

    how: str | None
    outcome: Outcome
    cause: str | None = None  # the restart's reason
    recovers: bool = True  # ready again after the restart (a slow starter never is)
    restarts: int = 1  # backoff: how many restarts to follow; all: how many containers
    container: str = "webapp"  # whose fault: the webapp, or its sidecar (break --container)
    resize: str | None = None  # instead of a fault: the webapp's new memory limit (a resize)
    loss: Loss | None = None  # spec.traffic: what the episode should cost in requests


class Lesson(NamedTuple):
    name: str
    manifest: str  # under deploy/
    teaches: str
    steps: tuple[Step, ...]
    needs: str = "any supported release"
    ready_first: bool = True  # wait until ready before the first step
    since: str = ""  # the Kubernetes minor release its feature came with ("1.35"), if recent


LESSONS = (
    Lesson("liveness", "demo-cr.yaml",
           "the seed's demo: liveness fails, the kubelet kills and restarts the container",
           (Step("start-failing", "restart", "LivenessProbe"),)),
    Lesson("readiness", "examples/readiness.yaml",
           "readiness takes the Pod out of service and never restarts it",
           (Step("readiness-fail-next=2", "forgiven"), Step("readiness-fail-next=5", "spell"))),
    Lesson("startup-slow", "examples/startup-slow.yaml",
           "a startup probe gives a slow starter its budget; liveness waits",
           (Step(None, "ready"),), ready_first=False),
    Lesson("startup-slow-no-probe", "examples/startup-slow-no-probe.yaml",
           "without a startup probe, liveness kills a slow starter while it starts",
           (Step(None, "restart", "LivenessProbe", recovers=False),), ready_first=False),
    Lesson("tcp", "examples/tcp.yaml", "a tcpSocket liveness probe: a refused connection fails",
           (Step("start-failing", "restart", "LivenessProbe"),)),
    Lesson("exec", "examples/exec.yaml", "an exec liveness probe: a non-zero exit fails",
           (Step("start-failing", "restart", "LivenessProbe"),)),
    Lesson("grpc", "examples/grpc.yaml", "a gRPC liveness probe: NOT_SERVING fails",
           (Step("start-failing", "restart", "LivenessProbe"),)),
    Lesson("oom", "examples/oom.yaml",
           "no probe at all: the kernel kills a container over its memory limit",
           (Step("oom", "restart", "OOMKilled"),)),
    Lesson("crash-loop", "examples/crash-loop.yaml",
           "CrashLoopBackOff is a wait, not a state: each restart waits longer, up to the "
           "node's cap",
           (Step(None, "backoff", "Crash", restarts=4),), ready_first=False,
           since="1.35"),
    Lesson("restart-rules", "examples/restart-rules.yaml",
           "container restart rules: exit 42 restarts in place under restartPolicy Never, "
           "exit 1 ends the Pod",
           (Step("crash=42", "restart", "RestartRule"), Step("crash=1", "ended")),
           needs="Kubernetes 1.35+ (ContainerRestartRules)", since="1.35"),
    Lesson("resize", "examples/resize.yaml",
           "in-place resize: a new memory limit for the running Pod, no new Pod; resizePolicy "
           "RestartContainer makes the kubelet restart the container to apply it",
           (Step(None, "restart", "Resize", resize="320Mi"),),
           needs="Kubernetes 1.35+ (in-place Pod resize)", since="1.35"),
    Lesson("sidecar", "examples/sidecar.yaml",
           "a sidecar (an init container that keeps running) is restarted on its own: its "
           "liveness kill and its crash leave the webapp running",
           (Step("start-failing", "restart", "LivenessProbe", container="sidecar"),
            Step("crash", "restart", "Crash", container="sidecar")),
           needs="Kubernetes 1.33+ (sidecar containers)", since="1.33"),
    Lesson("restart-all", "examples/restart-all.yaml",
           "a RestartAllContainers rule: the webapp's exit 42 restarts every container of the "
           "Pod in place, its sidecar too; again and again with no back-off",
           (Step("crash=42", "all", "RestartAllContainers", restarts=2),
            Step("crash=42", "all", "RestartAllContainers", restarts=2)),
           needs="Kubernetes 1.36+ (RestartAllContainersOnContainerExits)", since="1.36"),
    # What a probe protects: requests through the Service, two by two (without and with).
    Lesson("traffic-restart", "examples/traffic-restart.yaml",
           "traffic: a liveness restart with one Pod and no readiness probe loses every request "
           "from the break until the app serves again",
           (Step("start-failing", "restart", "LivenessProbe", loss="some"),)),
    Lesson("traffic-restart-ready", "examples/traffic-restart-ready.yaml",
           "traffic: the same restart with two replicas and a readiness probe loses only the "
           "broken Pod's share until the kill, none while it restarts",
           (Step("start-failing", "restart", "LivenessProbe", loss="share"),)),
    Lesson("traffic-readiness-one", "examples/traffic-readiness-one.yaml",
           "traffic: readiness out with one replica: nowhere else to go, every request is lost",
           (Step("readiness-fail-next=8", "spell", loss="all"),)),
    Lesson("traffic-readiness-two", "examples/traffic-readiness-two.yaml",
           "traffic: readiness out with two replicas: the other serves, none is lost",
           (Step("readiness-fail-next=8", "spell", loss="none"),)),
    Lesson("traffic-delete", "examples/traffic-delete.yaml",
           "traffic: a Pod deleted without a preStop sleep is refused to requests still routed "
           "to it until the endpoints drop it",
           (Step("delete", "replaced", loss="share"),)),
    Lesson("traffic-delete-prestop", "examples/traffic-delete-prestop.yaml",
           "traffic: with a preStop sleep the deleted Pod serves until the endpoints drop it: "
           "none is lost",
           (Step("delete", "replaced", loss="none"),)),
)  # fmt: skip
BY_NAME = {lesson.name: lesson for lesson in LESSONS}


def manifest(lesson: Lesson) -> str:
    return (MANIFESTS / lesson.manifest).read_text()


class Check(NamedTuple):
    """One line of a verdict."""

    passed: bool
    text: str


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def done(step: Step, before: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    """Whether the step's outcome has happened (or cannot any more), from two statuses; with
    traffic, also whether its cost in requests has been told."""
    happened = _happened(step, before, now)
    if not happened or step.loss is None or now.get("phase") in ("Ended", "Invalid"):
        return happened
    return lesson_traffic.told(EPISODE[step.outcome], before, now)


def _happened(step: Step, before: Mapping[str, Any], now: Mapping[str, Any]) -> bool:
    restarts = int(now.get("restarts") or 0)
    if step.outcome == "backoff" and now.get("phase") not in ("Ended", "Invalid"):
        return restarts >= int(before.get("restarts") or 0) + step.restarts
    if step.outcome == "all" and now.get("phase") not in ("Ended", "Invalid"):
        ready = _conditions(now).get("Ready", {}).get("status") == "True"
        return ready and restarts >= int(before.get("restarts") or 0) + step.restarts
    if now.get("phase") in ("Ended", "Invalid") or (
        step.outcome != "restart" and restarts > int(before.get("restarts") or 0)
    ):
        return True
    if step.outcome == "restart":
        if restarts <= int(before.get("restarts") or 0):
            return False
        newest = (now.get("history") or [{}])[0]
        return not step.recovers or newest.get("recoverySeconds") is not None
    if step.outcome == "ended":
        return False
    ready = _conditions(now).get("Ready", {}).get("status") == "True"
    if step.outcome == "forgiven":
        return ready and _failed(step, now) - _failed(step, before) >= _count(step)
    if step.outcome == "spell":
        return ready and _spells(now) > _spells(before)
    if step.outcome == "replaced":
        ended = lesson_traffic.episode("PodDeleted", before, now).get("end") is not None
        return ready and ended
    return ready  # "ready": it became (or stayed) ready


def judge(
    step: Step, before: Mapping[str, Any], now: Mapping[str, Any], spec: Mapping[str, Any]
) -> list[Check]:
    """The verdict on one step: what happened against what the probe math says."""
    checks: list[Check] = []
    restarted = int(now.get("restarts") or 0) - int(before.get("restarts") or 0)
    if step.outcome == "restart":
        checks.append(Check(restarted == 1, f"restarts +{restarted} (expected +1)"))
        newest = (now.get("history") or [{}])[0]
        reason = newest.get("reason")
        checks.append(Check(reason == step.cause, f"cause {reason} (expected {step.cause})"))
        if newest.get("detail"):
            checks.append(Check(True, f"  {newest['detail']}"))
        if step.container != "webapp":
            checks += _alone(step, before, now, newest)
        checks += _timing(newest, spec)
    elif step.outcome == "all":
        checks += _all(step, restarted, before, now)
    elif step.outcome == "backoff":
        checks += _backoff(step, restarted, now)
    elif step.outcome == "ended":
        phase = now.get("phase")
        checks.append(Check(phase == "Ended", f"phase {phase} (expected Ended): the Pod ends"))
        checks.append(Check(restarted == 0, f"restarts +{restarted} (expected +0)"))
        message = _conditions(now).get("Ready", {}).get("message")
        if message:
            checks.append(Check(True, f"  {message}"))
    else:
        checks += _unrestarted(step, restarted, before, now, spec)
    if step.loss is not None:
        kind = EPISODE[step.outcome]
        checks += [Check(*c) for c in lesson_traffic.judge(step.loss, kind, before, now, spec)]
    counts = _conditions(now).get("CountsComplete", {})
    exact = counts.get("status") == "True"
    checks.append(Check(exact, "counts exact" if exact else
                        f"counts are lower bounds: {counts.get('message')}"))  # fmt: skip
    return checks


def _unrestarted(
    step: Step,
    restarted: int,
    before: Mapping[str, Any],
    now: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> list[Check]:
    """The outcomes without a restart: a spell, a forgiven streak, a replaced Pod, ready."""
    checks: list[Check] = []
    checks.append(Check(restarted == 0, f"restarts +{restarted} (expected +0: never restarted)"))
    if step.outcome == "spell":
        checks += _spell(step, before, now, spec)
    elif step.outcome == "replaced":
        deleted = lesson_traffic.episode("PodDeleted", before, now)
        checks.append(
            Check(
                deleted.get("end") is not None,
                f"Pod {deleted.get('pod')} deleted; its successor ready "
                f"{_num(deleted.get('seconds'))} s later",
            )
        )
    elif step.outcome == "forgiven":
        failed = _failed(step, now) - _failed(step, before)
        spells = _spells(now) - _spells(before)
        expected = _count(step)
        checks.append(Check(failed == expected, f"{failed} failed probes ({expected} asked)"))
        forgiven = "expected 0x: fewer than failureThreshold in a row are forgiven"
        checks.append(Check(spells == 0, f"out of service {spells}x ({forgiven})"))
    else:
        ready = _conditions(now).get("Ready", {}).get("status") == "True"
        checks.append(Check(ready, "ready" if ready else "not ready"))
        startup = (now.get("expected") or {}).get("startup")
        if startup and step.how is None:
            fits = bool(startup.get("fitsBudget"))
            budget, starts = startup.get("budgetSeconds"), startup.get("appStartsInSeconds")
            verdict = "fits" if fits else "does NOT fit"
            checks.append(
                Check(
                    fits,
                    f"startup budget {budget} s for an app that starts in {starts} s: {verdict}",
                )
            )
    return checks


def _backoff(step: Step, restarted: int, now: Mapping[str, Any]) -> list[Check]:
    """Each restart's wait (the container's end to the next one's start) next to the node's
    schedule: at once, then doubling up to its cap; the kubelet retries up to half the wait
    later (jitter)."""
    followed = f"restarts +{restarted} (followed {step.restarts})"
    checks = [Check(restarted >= step.restarts, followed)]
    schedule = (now.get("expected") or {}).get("backOff") or {}
    initial, cap = schedule.get("initialSeconds"), schedule.get("maxSeconds")
    said = f"the node's schedule: {initial} s doubling to {cap} s, from {schedule.get('source')}"
    checks.append(Check(bool(schedule.get("fromNode")), said))
    for item in reversed((now.get("history") or [])[:restarted]):
        measured, expected = item.get("backOffSeconds"), item.get("expectedBackOffSeconds")
        fits = (
            item.get("reason") == step.cause
            and measured is not None
            and expected is not None
            and expected - 1 <= measured <= expected * (1 + BACKOFF_JITTER) + BACKOFF_SLACK
        )
        what = f"restart {item.get('restart')} ({item.get('reason')})"
        said = f"{what}: waited {_num(measured)} s, the schedule says {_num(expected)} s"
        if expected:
            said += f" (the kubelet retries within {_num(expected * (1 + BACKOFF_JITTER))} s)"
        checks.append(Check(fits, said))
    return checks


def _all(
    step: Step, restarted: int, before: Mapping[str, Any], now: Mapping[str, Any]
) -> list[Check]:
    """Every container restarted once, for the rule's reason, and at once: the kubelet removed
    every instance, so no back-off holds any of them."""
    checks = [Check(restarted == step.restarts, f"restarts +{restarted} (expected "
                    f"+{step.restarts}: every container once)")]  # fmt: skip
    was, per = before.get("containerRestarts") or {}, now.get("containerRestarts") or {}
    for name in sorted(per):
        grew = int(per[name]) - int(was.get(name) or 0)
        checks.append(Check(grew == 1, f"{name} restarts +{grew} (expected +1)"))
    items = (now.get("history") or [])[:restarted]
    schedule = (now.get("expected") or {}).get("backOff") or {}
    held = ""
    if int(before.get("restarts") or 0) and schedule.get("initialSeconds"):
        held = (
            f"; a crash again under a Restart rule would wait {_num(schedule['initialSeconds'])}"
            " s or more"
        )
    for item in reversed(items):
        who, reason = item.get("container") or "webapp", item.get("reason")
        checks.append(Check(reason == step.cause, f"{who}: cause {reason} (expected {step.cause})"))
        if who == "webapp" and item.get("detail"):
            checks.append(Check(True, f"  {item['detail']}"))
        waited = item.get("backOffSeconds")
        checks.append(
            Check(
                waited is not None and waited <= RESET_SLACK,
                f"{who} started again {_num(waited)} s after the reset (no back-off: expected "
                f"at most {RESET_SLACK:g} s{held})",
            )
        )
    return checks


def _alone(
    step: Step, before: Mapping[str, Any], now: Mapping[str, Any], newest: Mapping[str, Any]
) -> list[Check]:
    """A sidecar's restart: its own, and the webapp's container was left running."""
    who = newest.get("container") or "webapp"

    def webapp(status: Mapping[str, Any]) -> int:
        return int((status.get("containerRestarts") or {}).get("webapp") or 0)

    kept = webapp(now) - webapp(before)
    return [
        Check(who == step.container, f"container {who} restarted (expected {step.container})"),
        Check(kept == 0, f"webapp restarts +{kept} (expected +0: it kept running)"),
    ]


def _num(value: Any) -> str:
    return "?" if value is None else f"{value:g}"


def _count(step: Step) -> int:
    """The N of a `...fail-next=N` step."""
    return int(step.how.rpartition("=")[2]) if step.how and "=" in step.how else 0


def probe_of(step: Step) -> str:
    """The probe a step's fault breaks."""
    return "readiness" if (step.how or "").startswith("readiness") else "liveness"


def _failed(step: Step, status: Mapping[str, Any]) -> int:
    """The failures of the probe the step breaks, as the status counts them."""
    field = {"readiness": "readinessFailures", "liveness": "probeFailures"}[probe_of(step)]
    return int(status.get(field) or 0)


def _spells(status: Mapping[str, Any]) -> int:
    return int((status.get("readiness") or {}).get("outOfService") or 0)


def _timing(item: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Check]:
    """A probe kill's measured seconds (the webapp's journal) next to the probe math's: the
    kill comes after failureThreshold failures, give or take one period of the probe."""
    measured, expected = item.get("measuredSeconds"), item.get("expectedSeconds")
    if measured is None or expected is None:
        return []
    if item.get("container") == "sidecar":
        spec = spec.get("sidecar") or {}
    probe = spec.get("livenessProbe" if item.get("reason") == "LivenessProbe" else "startupProbe")
    period = float((probe or {}).get("periodSeconds", 10))
    fits = expected - 0.5 <= measured <= expected + period
    return [Check(fits, f"killed {measured:g} s after the first failure; the probe math says "
                        f"{expected:g} s (within one period of {period:g} s)")]  # fmt: skip


def _spell(
    step: Step, before: Mapping[str, Any], now: Mapping[str, Any], spec: Mapping[str, Any]
) -> list[Check]:
    """Out of service for about (N - failureThreshold) periods: the kubelet probes again at once
    when the Pod turns not ready, which uses up one of the N failures."""
    spells = _spells(now) - _spells(before)
    checks = [Check(spells == 1, f"out of service {spells}x (expected 1x)")]
    lasted = (now.get("readiness") or {}).get("lastOutOfServiceSeconds")
    count = _count(step)
    probe = spec.get("readinessProbe") or {}
    if lasted is not None and count:
        period = float(probe.get("periodSeconds", 10))
        predicted = (count - int(probe.get("failureThreshold", 3))) * period
        fits = abs(float(lasted) - predicted) <= period
        measured = f"out of service {float(lasted):g} s"
        checks.append(
            Check(
                fits,
                f"{measured}; predicted about {predicted:g} s (within one period of {period:g} s)",
            )
        )
    return checks


def listing() -> str:
    """What `lessons` prints: each lesson, what it teaches, what it needs, its one command."""
    width = max(len(lesson.name) for lesson in LESSONS)
    lines = ["Lessons (kubectl healthdemo lesson NAME [--keep] [-n NAMESPACE]):"]
    for lesson in LESSONS:
        lines.append(f"  {lesson.name:<{width}}  {lesson.teaches}")
        lines.append(f"  {'':<{width}}  deploy/{lesson.manifest}; needs {lesson.needs}")
    return "\n".join(lines) + "\n"
