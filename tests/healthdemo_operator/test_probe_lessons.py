"""Startup and OOM restarts told by the webapp's journal, and the probe math in status.expected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healthdemo_operator import podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.journal import ContainerEnd
from healthdemo_operator.observations import Termination, pod_view
from healthdemo_operator.status import causes, expected, restarts


def end(cause: str, *, starting: bool = False) -> ContainerEnd:
    return ContainerEnd(0, cause, None, None, 0, None, starting=starting)


def test_a_kill_while_starting_is_the_startup_probe_only_if_there_is_one() -> None:
    killed = end("sigterm", starting=True)
    assert causes.from_journal(killed, None, startup=True).reason == "StartupProbe"
    # The slow-starter lesson: without a startup probe the liveness probe killed it.
    assert causes.from_journal(killed, None, startup=False).reason == "LivenessProbe"
    started = end("sigterm")
    assert causes.from_journal(started, None, startup=True).reason == "LivenessProbe"


def test_oom_is_known_from_the_journal_for_every_restart() -> None:
    verdict = causes.from_journal(end("oom"), None, startup=False)
    assert (verdict.reason, verdict.evidence) == ("OOMKilled", "Journal")


def test_the_pod_view_knows_its_startup_probe() -> None:
    def pod(spec: dict[str, object]) -> dict[str, object]:
        hd = {"metadata": {"name": "d", "namespace": "n", "uid": "u"}, "spec": spec}
        return podspec.build_pod(HealthDemo.of(hd))

    assert pod_view(pod({})).startup_threshold is None
    assert pod_view(pod({"startupProbe": {"failureThreshold": 12}})).startup_threshold == 12


def test_probe_math() -> None:
    spec = podspec.effective(
        {
            "livenessProbe": {"periodSeconds": 2, "failureThreshold": 3, "timeoutSeconds": 1},
            "readinessProbe": {"periodSeconds": 5, "failureThreshold": 2, "successThreshold": 3},
            "startupProbe": {"initialDelaySeconds": 4, "periodSeconds": 2, "failureThreshold": 10},
            "startupDelaySeconds": 20,
        }
    )
    assert expected.probe_math(spec) == {
        "liveness": {
            "firstFailureToActSeconds": 4,
            "breakToActMaxSeconds": 6,
            "hangAddsSeconds": 1,
        },
        "readiness": {
            "firstFailureToActSeconds": 5,
            "breakToActMaxSeconds": 10,
            "hangAddsSeconds": 1,
            "backInServiceSeconds": 10,
        },
        "startup": {"budgetSeconds": 24, "appStartsInSeconds": 20, "fitsBudget": True},
    }


def test_a_slow_starter_without_a_startup_probe_is_judged_by_liveness() -> None:
    spec = podspec.effective(
        {"livenessProbe": {"periodSeconds": 2, "failureThreshold": 3}, "startupDelaySeconds": 20}
    )
    assert expected.probe_math(spec)["startup"] == {
        "budgetSeconds": 6,
        "appStartsInSeconds": 20,
        "fitsBudget": False,
        "judgedBy": "livenessProbe",
    }


def test_measured_next_to_expected() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    math = expected.probe_math(
        podspec.effective(
            {
                "livenessProbe": {"periodSeconds": 2, "failureThreshold": 3},
                "startupProbe": {"periodSeconds": 1, "failureThreshold": 5},
            }
        )
    )
    killed = ContainerEnd(0, "sigterm", t0 + timedelta(seconds=4.2), None, 3, t0)
    assert restarts._timing("LivenessProbe", killed, None, math) == {
        "measuredSeconds": 4.2,
        "expectedSeconds": 4,
    }
    lived = Termination("Completed", 0, t0, t0 + timedelta(seconds=5.6), "c1")
    assert restarts._timing("StartupProbe", None, lived, math) == {
        "measuredSeconds": 5.6,
        "expectedSeconds": 5,
    }
    assert restarts._timing("Crash", killed, lived, math) == {}


def test_no_measured_seconds_where_the_app_missed_a_failure_the_kubelet_counted() -> None:
    """A probe that never reached the app (its connect timed out) fails too: the journal's first
    failed answer is then a later probe, and the time from it to the kill would be short."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    math = expected.probe_math(
        podspec.effective({"livenessProbe": {"periodSeconds": 1, "failureThreshold": 2}})
    )
    one_of_two = ContainerEnd(0, "sigterm", t0 + timedelta(seconds=0.1), None, 1, t0)
    assert restarts._timing("LivenessProbe", one_of_two, None, math, 2) == {"expectedSeconds": 1}
    both = ContainerEnd(0, "sigterm", t0 + timedelta(seconds=1.1), None, 2, t0)
    assert restarts._timing("LivenessProbe", both, None, math, 2)["measuredSeconds"] == 1.1
    # tcpSocket: the app sees no failed answer at all; the break's time stands in for the first.
    broken = ContainerEnd(0, "sigterm", t0 + timedelta(seconds=1.3), None, 0, t0)
    assert restarts._timing("LivenessProbe", broken, None, math, 2)["measuredSeconds"] == 1.3
