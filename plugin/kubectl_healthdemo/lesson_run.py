"""`lesson NAME`: apply the lesson's HealthDemo, wait until it runs, break it as the lesson says,
follow its timeline, end with a verdict (what happened against the probe math), and clean up.

It reads the HealthDemo every second rather than watching: a lesson lasts a minute or two, and a
poll cannot miss the end of a step. The timeline's rows are printed as they appear (the same
lines `watch` appends into a pipe), so the run reads as the story it teaches.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from rich.console import Console

from kubectl_healthdemo import commands, faults, lessons, timeline
from kubectl_healthdemo.api import Api
from kubectl_healthdemo.errors import PluginError
from kubectl_healthdemo.lessons import Check, Lesson, Step
from kubectl_healthdemo.watching import Appender

POLL_SECONDS = 1.0
START_SECONDS = 120.0  # pulling nothing (IfNotPresent), a Pod runs in seconds; a slow one less
WEBAPP_SECONDS = 60.0  # a started container's app listens within a second or two
MARGIN_SECONDS = 60.0  # past the probe math: the restart, the new container, ready again
# With spec.traffic, the client sends this long before the fault: the operator tells an
# episode's cost only from windows that reach back past its start (with the clocks' slack).
SENDING_SECONDS = 4.0


class Run:
    def __init__(
        self,
        api: Api,
        lesson: Lesson,
        console: Console,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api, self.lesson, self.console = api, lesson, console
        self.clock, self.sleep = clock, sleep
        self.appender = Appender(console)
        body: dict[str, Any] = yaml.safe_load(lessons.manifest(lesson))
        body["metadata"]["namespace"] = api.namespace
        self.body = body
        self.name: str = body["metadata"]["name"]
        self.created = False  # only what the lesson made is cleaned up

    def healthdemo(self) -> dict[str, Any]:
        found = self.api.healthdemo(self.name)
        if found is None:
            raise PluginError(f'HealthDemo "{self.name}" was deleted during the lesson')
        return found

    def follow(
        self, until: Callable[[Mapping[str, Any]], bool], timeout: float
    ) -> tuple[dict[str, Any], bool]:
        """Print the timeline as it grows until `until(status)` or `timeout`; the last
        HealthDemo, and whether `until` was met."""
        deadline = self.clock() + timeout
        while True:
            found = self.healthdemo()
            self.appender.show(timeline.build(found, commands.events_for(self.api, found)))
            status = found.get("status") or {}
            if until(status):
                return found, True
            if self.clock() >= deadline:
                return found, False
            self.sleep(POLL_SECONDS)

    def started(self, status: Mapping[str, Any]) -> bool:
        phase = status.get("phase")
        if phase in ("Invalid", "Ended", "ImagePullError"):
            return True
        if not self.lesson.ready_first:
            return phase not in (None, "Pending")
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        traffic = (self.body.get("spec") or {}).get("traffic")
        if traffic and int((status.get("traffic") or {}).get("sent") or 0) < (
            float(traffic["ratePerSecond"]) * SENDING_SECONDS
        ):
            return False  # its cost in requests needs the client sending well before the fault
        return phase == "Running" and ready

    def step(self, step: Step, found: Mapping[str, Any]) -> tuple[dict[str, Any], list[Check]]:
        before: Mapping[str, Any] = found.get("status") or {}
        if step.resize is not None:
            self._webapp_answers(step.container)
            patch = {"spec": {"resources": {"limits": {"memory": step.resize}}}}
            self.console.print(
                f"-- kubectl patch healthdemo {self.name} --type merge -p '{_json(patch)}'"
            )
            self.api.patch_healthdemo(self.name, patch)
            self.console.print(
                "   only the resources changed: the operator resizes the Pod in place "
                "(pods/resize); memory RestartContainer: the kubelet restarts the container",
                soft_wrap=True,
            )
        elif step.how is None:
            self.console.print("-- nothing to break: the app does it itself; following")
        else:
            self._webapp_answers(step.container)
            sidecar = "" if step.container == "webapp" else f" --container {step.container}"
            self.console.print(f"-- kubectl healthdemo break {self.name} --how {step.how}{sidecar}")
            said = commands.break_it(
                self.api, self.name, faults.parse_how(step.how), step.container
            )
            for line in said.splitlines()[:2]:  # the webapp's answer and what should happen
                self.console.print(f"   {line}", soft_wrap=True)
        timeout = _patience(step, before)
        after, met = self.follow(lambda s: lessons.done(step, before, s), timeout)
        status = after.get("status") or {}
        checks = lessons.judge(step, before, status, after.get("spec") or {})
        if not met:
            waited = f"timed out after {timeout:g} s waiting for: {step.outcome}"
            checks.insert(0, Check(False, waited))
        elif step.outcome == "forgiven":
            # Failures in a row are what the kubelet counts: the next step must not inherit
            # these. The webapp tells when the kubelet's probe has passed again.
            checks.append(self._passed_again(lessons.probe_of(step), after.get("spec") or {}))
        return after, checks

    def _webapp_answers(self, container: str) -> None:
        """Wait until the webapp (or its sidecar) itself answers: a container without a
        readiness probe is Ready when it starts, a moment before the app listens."""
        deadline = self.clock() + WEBAPP_SECONDS
        while True:
            try:
                target = commands.find_target(self.api, self.name, container)
                answer = self.api.proxy_get(target.pod, target.port, "/")
                if answer.status == 200 and not answer.is_api_status:
                    return
                why = answer.message
            except PluginError as exc:  # no running Pod yet
                why = str(exc)
            if self.clock() >= deadline:
                raise PluginError(f"the webapp did not answer within {WEBAPP_SECONDS:g} s: {why}")
            self.sleep(POLL_SECONDS)

    def _passed_again(self, probe: str, spec: Mapping[str, Any]) -> Check:
        """Wait until the webapp's newest answer to the kubelet's `probe` passed (a probe runs
        every periodSeconds: two periods and a margin is long enough)."""
        target = commands.find_target(self.api, self.name)
        period = float((spec.get(f"{probe}Probe") or {}).get("periodSeconds", 10))
        patience = 2 * period + 10
        deadline = self.clock() + patience
        while True:
            calls = self._kubelet_calls(target, probe)
            if calls and calls[0]["ok"]:
                return Check(True, f"the kubelet's {probe} probe passed again ({calls[0]['at']})")
            if self.clock() >= deadline:
                return Check(
                    False, f"the kubelet's {probe} probe did not pass again in {patience:g} s"
                )
            self.sleep(POLL_SECONDS)

    def _kubelet_calls(self, target: commands.Target, probe: str) -> list[dict[str, Any]]:
        """The webapp's newest answers to the kubelet's `probe`, newest first."""
        answer = self.api.proxy_get(target.pod, target.port, "/probes/recent")
        calls = answer.body.get("calls") if isinstance(answer.body, dict) else None
        return [c for c in calls or [] if c.get("probe") == probe and c.get("kubelet")]

    def run(self) -> bool:
        lesson = self.lesson
        self.console.print(f"lesson {lesson.name}: {lesson.teaches} (needs {lesson.needs})")
        self.console.print(
            f"-- applying HealthDemo {self.api.namespace}/{self.name} (deploy/{lesson.manifest})"
        )
        self.api.create_healthdemo(self.body)
        self.created = True
        found, met = self.follow(self.started, START_SECONDS)
        status = found.get("status") or {}
        if status.get("phase") == "Invalid" or not met:
            self._verdict([Check(False, _not_started(status, met))])
            return False
        all_checks: list[Check] = []
        for step in lesson.steps:
            found, checks = self.step(step, found)
            self._checks(checks)
            all_checks += checks
            if not all(c.passed for c in checks):
                break  # the next step builds on this one
        return self._verdict(all_checks)

    def _checks(self, checks: list[Check]) -> None:
        for check in checks:
            mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
            self.console.print(f"   {mark} {check.text}", soft_wrap=True, highlight=False)

    def _verdict(self, checks: list[Check]) -> bool:
        passed = bool(checks) and all(c.passed for c in checks)
        failed = [c for c in checks if not c.passed]
        if failed and len(checks) == 1:
            self._checks(failed)
        word = "[bold green]PASSED[/]" if passed else "[bold red]FAILED[/]"
        self.console.print(f"verdict: lesson {self.lesson.name} {word}", highlight=False)
        return passed

    def clean_up(self, keep: bool) -> None:
        if not self.created:
            return
        if keep:
            self.console.print(
                f"kept: kubectl healthdemo timeline {self.name} -n {self.api.namespace}; "
                f"kubectl delete healthdemo {self.name} -n {self.api.namespace} when done"
            )
            return
        self.api.delete_healthdemo(self.name)
        self.console.print(f"deleted HealthDemo {self.api.namespace}/{self.name} (--keep keeps it)")


def _patience(step: Step, status: Mapping[str, Any]) -> float:
    """How long a step may take: the probe math's worst case, plus the restart and readiness."""
    expected = status.get("expected") or {}
    if step.outcome == "backoff":  # the schedule's waits, and each container's short life
        schedule = expected.get("backOff") or {}
        initial = float(schedule.get("initialSeconds") or 10)
        cap = float(schedule.get("maxSeconds") or 300)
        waits = sum(min(initial * 2.0**k, cap) for k in range(step.restarts - 1))
        return waits + step.restarts * 10 + MARGIN_SECONDS
    if step.how is None:
        startup = expected.get("startup") or {}
        return float(startup.get("appStartsInSeconds") or 0) + MARGIN_SECONDS
    liveness = expected.get("liveness") or {}
    return float(liveness.get("breakToActMaxSeconds") or 30) + MARGIN_SECONDS


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _not_started(status: Mapping[str, Any], met: bool) -> str:
    ready: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    said = f"{ready.get('reason')}: {ready.get('message')}" if ready else "no status yet"
    if status.get("phase") == "Invalid":
        return f"the HealthDemo is Invalid, the lesson cannot run here ({said})"
    if not met:
        return f"it did not start within {START_SECONDS:g} s (phase {status.get('phase')}; {said})"
    return f"it did not start (phase {status.get('phase')}; {said})"


def run_lesson(api: Api, name: str, console: Console, *, keep: bool) -> bool:
    """The whole lesson; True when every check passed."""
    lesson = lessons.BY_NAME.get(name)
    if lesson is None:
        raise PluginError(f"no lesson {name!r}: kubectl healthdemo lessons lists them")
    run = Run(api, lesson, console)
    try:
        return run.run()
    finally:
        run.clean_up(keep)
