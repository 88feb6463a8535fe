"""How a lesson step is judged, from two statuses (before the fault, now): pure."""

from __future__ import annotations

from typing import Any

from kubectl_healthdemo.lessons import BY_NAME, Step, done, judge

READY = [{"type": "Ready", "status": "True"}, {"type": "CountsComplete", "status": "True"}]
SPEC = {"livenessProbe": {"periodSeconds": 2, "failureThreshold": 3},
        "readinessProbe": {"periodSeconds": 2, "failureThreshold": 3}}  # fmt: skip
BEFORE: dict[str, Any] = {"phase": "Running", "restarts": 0, "conditions": READY}


def restarted(reason: str, **item: Any) -> dict[str, Any]:
    newest = {"reason": reason, "measuredSeconds": 4.1, "expectedSeconds": 4, **item}
    return {**BEFORE, "restarts": 1, "history": [newest]}


def texts(step: Step, now: dict[str, Any]) -> list[tuple[bool, str]]:
    return [(c.passed, c.text) for c in judge(step, BEFORE, now, SPEC)]


def test_a_liveness_restart_is_done_once_ready_again_and_judged_by_the_probe_math() -> None:
    (step,) = BY_NAME["liveness"].steps
    assert not done(step, BEFORE, BEFORE)
    assert not done(step, BEFORE, restarted("LivenessProbe"))  # not ready again yet
    now = restarted("LivenessProbe", recoverySeconds=5.2)
    assert done(step, BEFORE, now)
    assert texts(step, now) == [
        (True, "restarts +1 (expected +1)"),
        (True, "cause LivenessProbe (expected LivenessProbe)"),
        (True, "killed 4.1 s after the first failure; the probe math says 4 s (within one "
               "period of 2 s)"),
        (True, "counts exact"),
    ]  # fmt: skip
    late = restarted("LivenessProbe", recoverySeconds=1, measuredSeconds=6.5)
    assert not all(c.passed for c in judge(step, BEFORE, late, SPEC))


def test_the_wrong_cause_fails_the_verdict() -> None:
    (step,) = BY_NAME["oom"].steps
    (restarts, cause, *_rest) = texts(step, restarted("Crash", recoverySeconds=1))
    assert restarts[0] and cause == (False, "cause Crash (expected OOMKilled)")


def test_restart_rules_steps() -> None:
    rule, end = BY_NAME["restart-rules"].steps
    detail = "exit code 42 matched restartPolicyRules[0]: Restart when the exit code is in [42]"
    now = restarted("RestartRule", detail=detail, recoverySeconds=0.8)
    assert (True, f"  {detail}") in texts(rule, now)
    ended = {**BEFORE, "phase": "Ended", "conditions": [
        {"type": "Ready", "status": "False", "reason": "PodEnded", "message": "Pod x has ended"},
        {"type": "CountsComplete", "status": "True"}]}  # fmt: skip
    assert not done(end, BEFORE, BEFORE)
    assert done(end, BEFORE, ended)
    assert texts(end, ended)[:2] == [
        (True, "phase Ended (expected Ended): the Pod ends"),
        (True, "restarts +0 (expected +0)"),
    ]
    # A restart where the Pod should have ended ends the wait, and fails.
    assert done(end, BEFORE, now) and not all(c.passed for c in judge(end, BEFORE, now, SPEC))


def test_readiness_forgiven_then_a_spell_of_about_two_periods() -> None:
    forgiven, spell = BY_NAME["readiness"].steps
    assert not done(forgiven, BEFORE, {**BEFORE, "readinessFailures": 1})
    two = {**BEFORE, "readinessFailures": 2}
    assert done(forgiven, BEFORE, two)
    assert all(c.passed for c in judge(forgiven, BEFORE, two, SPEC))
    out = {**two, "readiness": {"outOfService": 1, "lastOutOfServiceSeconds": 4.3}}
    assert done(spell, two, out)
    said = [(c.passed, c.text) for c in judge(spell, two, out, SPEC)]
    assert (True, "out of service 1x (expected 1x)") in said
    assert (True, "out of service 4.3 s; predicted about 4 s (within one period of 2 s)") in said
    long = {**two, "readiness": {"outOfService": 1, "lastOutOfServiceSeconds": 9.0}}
    assert not all(c.passed for c in judge(spell, two, long, SPEC))


def test_lower_bounds_fail_the_verdict() -> None:
    (step,) = BY_NAME["liveness"].steps
    now = restarted("LivenessProbe", recoverySeconds=1)
    now["conditions"] = [{"type": "CountsComplete", "status": "False", "message": "kubelet gone"}]
    assert texts(step, now)[-1] == (False, "counts are lower bounds: kubelet gone")


def test_a_slow_starter_with_its_budget_becomes_ready() -> None:
    (step,) = BY_NAME["startup-slow"].steps
    starting = {
        "phase": "Running",
        "restarts": 0,
        "conditions": [{"type": "Ready", "status": "False"}],
    }
    assert not done(step, starting, starting)
    fits = {"budgetSeconds": 40, "appStartsInSeconds": 30, "fitsBudget": True}
    now = {**starting, "conditions": READY, "expected": {"startup": fits}}
    assert done(step, starting, now)
    assert all(c.passed for c in judge(step, starting, now, SPEC))


def test_a_crash_loop_is_judged_restart_by_restart_against_the_nodes_schedule() -> None:
    (step,) = BY_NAME["crash-loop"].steps
    schedule = {"initialSeconds": 2.0, "maxSeconds": 2.0, "fromNode": True, "source": "n1"}
    waits = ((4, 2.0, 2.0), (3, 3.0, 2.0), (2, 2.0, 2.0), (1, 0.0, 0.0))  # newest first
    history = [{"restart": n, "reason": "Crash", "backOffSeconds": wait,
                "expectedBackOffSeconds": expected} for n, wait, expected in waits]  # fmt: skip
    now = {**BEFORE, "restarts": 4, "history": history, "expected": {"backOff": schedule}}
    assert not done(step, BEFORE, {**now, "restarts": 3})
    assert done(step, BEFORE, now)
    said = [(c.passed, c.text) for c in judge(step, BEFORE, now, SPEC)]
    assert said[:3] == [
        (True, "restarts +4 (followed 4)"),
        (True, "the node's schedule: 2.0 s doubling to 2.0 s, from n1"),
        (True, "restart 1 (Crash): waited 0 s, the schedule says 0 s"),
    ]
    late = {**now, "history": [{**history[0], "backOffSeconds": 9.0}, *history[1:]]}
    assert not all(c.passed for c in judge(step, BEFORE, late, SPEC))
    unknown = {**now, "expected": {"backOff": {**schedule, "fromNode": False}}}
    assert not all(c.passed for c in judge(step, BEFORE, unknown, SPEC))


def test_a_back_off_may_end_up_to_half_its_length_late() -> None:
    """The kubelet retries a Pod in back-off at a jittered time, up to 1.5 times the wait
    (measured on make sandbox with the default schedule: 15, 26, 44 s for 10, 20, 40 s)."""
    (step,) = BY_NAME["crash-loop"].steps
    schedule = {"initialSeconds": 10.0, "maxSeconds": 300.0, "fromNode": True, "source": "n1"}
    waits = ((4, 44.0, 40.0), (3, 26.0, 20.0), (2, 15.0, 10.0), (1, 1.0, 0.0))
    history = [{"restart": n, "reason": "Crash", "backOffSeconds": wait,
                "expectedBackOffSeconds": expected} for n, wait, expected in waits]  # fmt: skip
    now = {**BEFORE, "restarts": 4, "history": history, "expected": {"backOff": schedule}}
    said = [(c.passed, c.text) for c in judge(step, BEFORE, now, SPEC)]
    assert (True, "restart 2 (Crash): waited 15 s, the schedule says 10 s (the kubelet retries "
                  "within 15 s)") in said  # fmt: skip
    assert all(passed for passed, _ in said)
    too_late = {**now, "history": [{**history[0], "backOffSeconds": 63.0}, *history[1:]]}
    assert not all(c.passed for c in judge(step, BEFORE, too_late, SPEC))


def test_a_sidecar_step_is_the_sidecars_restart_and_leaves_the_webapp_running() -> None:
    kill, crash = BY_NAME["sidecar"].steps
    assert (kill.container, crash.container) == ("sidecar", "sidecar")
    spec = {**SPEC, "sidecar": {"livenessProbe": {"periodSeconds": 2, "failureThreshold": 2}}}
    before = {**BEFORE, "containerRestarts": {"webapp": 1}}
    now = {
        **before,
        "restarts": 1,
        "containerRestarts": {"webapp": 1, "sidecar": 1},
        "history": [{"reason": "LivenessProbe", "container": "sidecar", "measuredSeconds": 2.1,
                     "expectedSeconds": 2, "recoverySeconds": 3}],
    }  # fmt: skip
    assert [(c.passed, c.text) for c in judge(kill, before, now, spec)] == [
        (True, "restarts +1 (expected +1)"),
        (True, "cause LivenessProbe (expected LivenessProbe)"),
        (True, "container sidecar restarted (expected sidecar)"),
        (True, "webapp restarts +0 (expected +0: it kept running)"),
        (True, "killed 2.1 s after the first failure; the probe math says 2 s (within one "
               "period of 2 s)"),
        (True, "counts exact"),
    ]  # fmt: skip
    # The webapp's restart where the sidecar's was expected fails the verdict.
    webapp = {**now, "containerRestarts": {"webapp": 2},
              "history": [{**now["history"][0], "container": None}]}  # fmt: skip
    failed = [c.text for c in judge(kill, before, webapp, spec) if not c.passed]
    assert failed == [
        "container webapp restarted (expected sidecar)",
        "webapp restarts +1 (expected +0: it kept running)",
    ]


def traffic_spec(lesson: str) -> dict[str, Any]:
    import yaml  # noqa: PLC0415
    from kubectl_healthdemo.lessons import manifest  # noqa: PLC0415

    spec: dict[str, Any] = yaml.safe_load(manifest(BY_NAME[lesson]))["spec"]
    return spec


def with_episode(kind: str, **episode: Any) -> dict[str, Any]:
    found = {"kind": kind, "pod": "t-webapp", "podUID": "u1", "start": "2026-12-07T10:00:00Z",
             "end": "2026-12-07T10:00:06Z", **episode}  # fmt: skip
    return {**BEFORE, "readiness": {"outOfService": 1}, "traffic": {"episodes": [found]}}


def verdict(lesson: str, now: dict[str, Any]) -> list[tuple[bool, str]]:
    (step,) = BY_NAME[lesson].steps
    return [(c.passed, c.text) for c in judge(step, BEFORE, now, traffic_spec(lesson))]


def test_a_traffic_step_waits_until_its_cost_is_told() -> None:
    (step,) = BY_NAME["traffic-readiness-one"].steps
    spell = with_episode("OutOfService", seconds=6.0)
    assert not done(step, BEFORE, spell)  # over, but the client's windows not read yet
    assert done(step, BEFORE, with_episode("OutOfService", seconds=6.0, requestsLost=58))
    (step,) = BY_NAME["traffic-restart"].steps
    now = restarted("LivenessProbe", recoverySeconds=5.2)
    assert not done(step, BEFORE, now)
    assert done(step, BEFORE, restarted("LivenessProbe", recoverySeconds=5.2, requestsLost=60))


def test_one_replica_out_of_service_loses_every_request_of_the_spell() -> None:
    told = verdict("traffic-readiness-one", with_episode("OutOfService", seconds=6.0,
                                                          requestsLost=58))  # fmt: skip
    assert (True, "requests lost 58 at 10/s; predicted all of them while out of service: "
                  "10/s x 6 s = 60 (± 30: the endpoints' update at each end, whole-second "
                  "times)") in told  # fmt: skip
    # Half of them lost is not what one replica does: the verdict fails.
    half = verdict("traffic-readiness-one", with_episode("OutOfService", seconds=6.0,
                                                          requestsLost=25))  # fmt: skip
    assert not all(passed for passed, _ in half)


def test_two_replicas_and_a_prestop_sleep_lose_nothing() -> None:
    spared = verdict("traffic-readiness-two", with_episode("OutOfService", seconds=6.0,
                                                            requestsLost=0))  # fmt: skip
    assert (True, "requests lost 0 at 10/s; predicted 0: the other replica served every "
                  "request") in spared  # fmt: skip
    one = verdict("traffic-delete-prestop", with_episode("PodDeleted", seconds=9.0,
                                                          requestsLost=1))  # fmt: skip
    assert (False, "requests lost 1 at 10/s; predicted 0: its preStop sleep kept it serving "
                   "until the endpoints dropped it") in one  # fmt: skip
    assert (True, "Pod t-webapp deleted; its successor ready 9 s later") in one


def test_a_restart_costs_at_least_the_probe_maths_wait_with_one_pod() -> None:
    expected = {"liveness": {"firstFailureToActSeconds": 2, "breakToActMaxSeconds": 5}}
    now = {**restarted("LivenessProbe", recoverySeconds=4.0, requestsLost=55),
           "expected": expected}  # fmt: skip
    said = verdict("traffic-restart", now)
    assert (True, "requests lost 55 at 10/s; predicted every request from the break until the "
                  "app serves again: at least 20 (the kubelet's 2 s from the first failure to "
                  "the kill), at most 100 (recovery 4 s, a period before it, the app's start "
                  "after it)") in said  # fmt: skip
    assert not all(p for p, _ in verdict("traffic-restart", {**now, "history": [
        {**now["history"][0], "requestsLost": 3}]}))  # fmt: skip
    # Two replicas and readiness: at most the broken Pod's half, until the kill.
    shared = verdict("traffic-restart-ready", {**now, "history": [
        {**now["history"][0], "requestsLost": 17}]})  # fmt: skip
    assert (True, "requests lost 17 at 10/s; predicted at most the broken Pod's share (1 of 2) "
                  "until the kill (at most 5 s) and the endpoints' update; none while it "
                  "restarts: at most 35") in shared  # fmt: skip
