"""Every lesson as a user runs it on the real node: `kubectl healthdemo lesson NAME`, the installed
executable as the sandbox's admin. It applies deploy/'s HealthDemo, breaks it through the Pod
proxy, follows the operator's record and must end with a passing verdict (cause, measured vs
expected seconds, counts exact), deleting what it made. The real kubelet and kernel do the rest."""

from __future__ import annotations

import pytest
from healthdemo_sandbox import releases
from kubectl_healthdemo import lessons

from ..conftest import eventually
from ..plugin.conftest import run_plugin
from .conftest import Cluster

pytestmark = pytest.mark.node

# A lesson's wait is bounded by its own timeouts (start, then each step's probe math + a minute).
LESSON_SECONDS = 420


def _minor(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def lessons_here() -> list[str]:
    """Every lesson on the newest release; on an older one, those whose feature came with that
    release or later (where the release makes a difference: a later one's lesson must say it
    cannot run there). The others are the probes' mechanics, which the kind-by-kind node tests
    prove on every release."""
    release = releases.selected()
    # The traffic lessons run two by two, side by side (test_traffic_lessons.py).
    alone = [lesson for lesson in lessons.LESSONS if not any(s.loss for s in lesson.steps)]
    if release is releases.NEWEST:
        return [lesson.name for lesson in alone]
    return [
        lesson.name
        for lesson in alone
        if lesson.since and _minor(lesson.since) >= _minor(release.minor)
    ]


def has_feature(name: str) -> bool:
    """Whether the selected release has the lesson's feature (it came with it or before)."""
    since = lessons.BY_NAME[name].since
    return not since or _minor(since) <= _minor(releases.selected().minor)


@pytest.mark.parametrize("name", lessons_here())
def test_the_lesson_ends_with_a_passing_verdict(
    deployed: Cluster, namespace: str, name: str
) -> None:
    admin = deployed.plane.kubeconfig("admin")
    result = run_plugin("lesson", name, "-n", namespace, kubeconfig=admin, timeout=LESSON_SECONDS)
    told = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    print(result.stdout)  # the verdict, measured: pytest -rA shows it
    if not has_feature(name):
        # A release without the feature: the lesson says it cannot run here, and why.
        assert result.returncode != 0, told
        assert "the lesson cannot run here (FeatureUnavailable: " in result.stdout, told
        assert f"verdict: lesson {name} FAILED" in result.stdout.splitlines(), told
        return
    assert result.returncode == 0, told
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"lesson {name}: "), told
    assert f"verdict: lesson {name} PASSED" in lines, told
    checks = [line.strip() for line in lines if line.startswith("   ") and line.strip()[:1] in "✓✗"]
    assert checks and all(check.startswith("✓") for check in checks), told
    lesson = lessons.BY_NAME[name]
    for step in lesson.steps:
        if step.how is not None:
            assert (
                "-- kubectl healthdemo break " in result.stdout
                and f"--how {step.how}" in result.stdout
            )
    assert "counts exact" in result.stdout
    # Cleaned up: the lesson's HealthDemo is gone (its Pod follows by garbage collection).
    eventually(
        lambda: not deployed.kubectl("get", "healthdemos", "-n", namespace, "-o", "name").stdout,
        what="the lesson's HealthDemo gone",
    )
