"""The command line of `kubectl healthdemo`: parsing, help, exit codes, and what --help loads."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kubectl_healthdemo import cli, faults, lessons, usage
from kubectl_healthdemo.errors import USAGE, UsageError


def test_break_defaults_to_the_seed_demo_switch() -> None:
    args = cli.parse(["break", "demo"])
    assert (args.command, args.name) == ("break", "demo")
    assert args.fault.path == "/start-failing"
    assert (args.namespace, args.context, args.kubeconfig) == (None, None, None)


@pytest.mark.parametrize(
    ("how", "path", "query"),
    [
        ("start-failing", "/start-failing", {}),
        ("fail-next=2", "/fail-next", {"count": "2"}),
        ("hang=1.5", "/hang", {"seconds": "1.5"}),
        ("crash", "/crash", {}),
        ("crash=42", "/crash", {"code": "42"}),
        ("oom", "/oom", {}),
        ("readiness-off", "/readyz/disable", {}),
        ("readiness-fail-next=4", "/readyz/fail-next", {"count": "4"}),
    ],
)
def test_each_way_to_break_it(how: str, path: str, query: dict[str, str]) -> None:
    for argv in (["break", "demo", "--how", how], ["break", "demo", f"--how={how}"]):
        fault = cli.parse(argv).fault
        assert (fault.path, dict(fault.query)) == (path, query)


@pytest.mark.parametrize(
    ("how", "fragment"),
    [
        ("fail-next=x", "N must be a whole number"),
        ("fail-next", "use one of start-failing, fail-next=N"),
        ("hang=-1", "S must be seconds"),
        ("hang=nan", "S must be seconds"),
        ("crash=256", "CODE must be an exit code 0-255, got '256'"),
        ("crash=x", "CODE must be an exit code"),
        ("readiness-fail-next=-1", "readiness-fail-next=N: N must be a whole number"),
        ("crash-now", "use one of"),
        ("explode", "use one of"),
    ],
)
def test_a_bad_how_says_what_is_accepted(how: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        cli.parse(["break", "demo", "--how", how])


def test_kubectl_flags_before_and_after_the_command() -> None:
    before = cli.parse(["-n", "team-a", "--context", "kind", "--kubeconfig", "/k", "timeline", "x"])
    assert (before.namespace, before.context, before.kubeconfig) == ("team-a", "kind", "/k")
    after = cli.parse(["timeline", "x", "--namespace", "team-b", "--context=c"])
    assert (after.namespace, after.context) == ("team-b", "c")
    both = cli.parse(["-n", "first", "watch", "x", "-n", "second"])
    assert both.namespace == "second"


@pytest.mark.parametrize(
    "argv",
    [["break"], ["timeline"], ["frob", "x"], ["timeline", "a", "b"], ["heal", "x", "--how=crash"]],
)
def test_unrunnable_command_lines(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        cli.parse(argv)


def test_help_is_krew_style(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for heading in ("Usage:", "Commands:", "Flags:", "Examples:"):
        assert f"\n{heading}\n" in out
    assert "kubectl healthdemo COMMAND NAME [flags]" in out
    assert cli.main([]) == 0  # like kubectl: no command, the help
    assert capsys.readouterr().out == usage.MAIN


@pytest.mark.parametrize("command", cli.COMMANDS)
def test_each_command_has_its_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert f"kubectl healthdemo {command}{'' if command in cli.NAMELESS else ' NAME'}" in out
    assert "Needs:" in out  # the RBAC it takes


def test_lessons_lists_every_lesson_with_its_file_and_release(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["lessons"]) == 0
    out = capsys.readouterr().out
    for lesson in lessons.LESSONS:
        assert f"  {lesson.name} " in out
        assert f"deploy/{lesson.manifest}; needs {lesson.needs}" in out
        assert lessons.manifest(lesson).startswith("#")  # the file a user applies, with its words
    assert "restart-rules" in out and "Kubernetes 1.35+ (ContainerRestartRules)" in out


def test_every_lesson_example_says_its_one_command() -> None:
    """Each example's comment names the command that runs it as a lesson."""
    for lesson in lessons.LESSONS:
        assert f"kubectl healthdemo lesson {lesson.name}" in lessons.manifest(lesson), lesson


def test_lesson_names_are_checked_before_any_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lesson", "nope", "--kubeconfig", "/nonexistent"]) == 2
    assert "no lesson 'nope': kubectl healthdemo lessons lists them" in capsys.readouterr().err
    assert cli.main(["lessons", "x"]) == 2
    assert cli.parse(["lesson", "oom", "--keep"]).keep


def test_usage_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["break"]) == USAGE
    err = capsys.readouterr().err
    assert err.startswith('error: "break" needs the name of a HealthDemo')
    assert err.endswith("See 'kubectl healthdemo --help'.\n")


def test_help_and_bad_arguments_never_load_the_api_client() -> None:
    """--help must be instant: no kubernetes client (about 0.3 s to import), no rich."""
    probe = (
        "import sys; from kubectl_healthdemo import cli\n"
        "for argv in (['--help'], ['break', '--help'], ['break'], ['x']):\n"
        "    cli.main(argv)\n"
        "print(sorted(m for m in ('kubernetes', 'rich', 'urllib3', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_installed_as_a_kubectl_plugin() -> None:
    """kubectl finds plugins as executables named kubectl-<name> on PATH."""
    found = shutil.which("kubectl-healthdemo", path=str(Path(sys.executable).parent))
    assert found is not None, "pip install -e '.[plugin]' puts kubectl-healthdemo next to python"
    result = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("kubectl-healthdemo ")


SPEC = {"livenessProbe": {"periodSeconds": 2, "failureThreshold": 3, "timeoutSeconds": 1}}
EXPECTED = {
    "liveness": {"firstFailureToActSeconds": 4, "breakToActMaxSeconds": 6, "hangAddsSeconds": 1},
    "readiness": {"firstFailureToActSeconds": 4, "backInServiceSeconds": 0},
}


@pytest.mark.parametrize(
    ("how", "fragment"),
    [
        ("start-failing", "kills it 4 s after the first failed probe"),
        ("start-failing", "at most 6 s from now"),
        ("fail-next=2", "the kubelet forgives them, no restart"),
        ("fail-next=3", "at least 3: the kubelet kills it"),
        ("hang=0.5", "the probes still pass"),
        ("hang=5", "each probe times out"),
        ("crash", "reason Crash"),
        ("oom", "reason OOMKilled"),
        ("readiness-off", "out of service 4 s after the first failed probe, never restarted"),
        ("readiness-fail-next=2", "fewer than failureThreshold 3: the Pod stays ready"),
        ("readiness-fail-next=5", "out of service 4 s after the first failed probe, for about 2"),
    ],
)
def test_break_says_what_the_kubelet_should_do(how: str, fragment: str) -> None:
    assert fragment in faults.expectation(faults.parse_how(how), SPEC, EXPECTED)


def test_break_crash_says_what_the_restart_rules_and_policy_do() -> None:
    rule = {"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}
    lesson = {**SPEC, "restartPolicy": "Never", "restartPolicyRules": [rule]}
    said = {how: faults.expectation(faults.parse_how(how), lesson, EXPECTED)
            for how in ("crash=42", "crash", "crash=0")}  # fmt: skip
    assert said["crash=42"] == (
        "the process exits with code 42: restartPolicyRules[0]: Restart when the exit code is in "
        "[42] matches, so the kubelet restarts it (reason RestartRule)"
    )
    assert said["crash"] == (
        "the process exits with code 1: restartPolicy Never does not restart it, and no restart "
        "rule matches it: the Pod ends (phase Ended) and is kept for inspection"
    )
    assert "the Pod ends" in said["crash=0"]
    on_failure = {**SPEC, "restartPolicy": "OnFailure"}
    assert "restarts it (reason Crash)" in faults.expectation(
        faults.parse_how("crash=3"), on_failure, EXPECTED
    )
    assert "does not restart it: the Pod ends" in faults.expectation(
        faults.parse_how("crash=0"), on_failure, EXPECTED
    )


def test_readiness_off_without_a_readiness_probe() -> None:
    text = faults.expectation(faults.parse_how("readiness-off"), SPEC, {"liveness": {}})
    assert "no readiness probe" in text


def test_break_and_heal_reach_the_sidecar_only_when_asked() -> None:
    assert cli.parse(["break", "demo"]).container == "webapp"
    assert cli.parse(["break", "demo", "--container", "sidecar"]).container == "sidecar"
    assert cli.parse(["heal", "demo", "--container", "sidecar"]).container == "sidecar"
    with pytest.raises(UsageError, match="invalid choice"):
        cli.parse(["break", "demo", "--container", "db"])


def test_break_and_heal_reach_a_replica_when_asked() -> None:
    assert cli.parse(["break", "demo"]).replica == 0
    assert cli.parse(["break", "demo", "--replica", "2"]).replica == 2
    assert cli.parse(["heal", "demo", "--replica", "1"]).replica == 1
    with pytest.raises(UsageError, match="--replica takes a number"):
        cli.parse(["break", "demo", "--replica", "first"])
