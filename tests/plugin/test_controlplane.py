"""`kubectl healthdemo` against the real API server: the operator records, the test plays the
kubelet through the API (as in tests/healthdemo_operator), and a real webapp process stands
behind the Pod's address, so `break` and `heal` go through the API server's real Pod proxy.
The story is told on both of the operator's sources: the kubelet's Events alone, and a Pod on a
stand-in kubelet's Node whose probe counters go on past the Events.
Each error path is the real one: a real 404, a real RBAC refusal for a real identity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator
from healthdemo_sandbox.node.host import host_address
from kubernetes import client

from ..conftest import eventually, http_json, standin_node
from ..healthdemo_operator.kubelet_actor import KILLING, LIVENESS_500, KubeletActor
from ..healthdemo_operator.test_operator import apply, events_about, read_pod, sample, status_of
from ..webapp.conftest import Served, serve
from .conftest import PLUGIN, grant, mint_user, plugin_env, run_plugin

pytestmark = pytest.mark.controlplane

JOURNAL = "healthdemo-journal/v1 "  # the webapp's termination message (webapp/journal.py)


@dataclass
class LiveDemo:
    """A HealthDemo whose Pod "runs" a real webapp process: the fake kubelet reports the host's
    address as the Pod IP, and the webapp listens there on spec.port."""

    namespace: str
    kubelet: KubeletActor
    webapp: Served

    def webapp_says(self, path: str) -> tuple[int, Any]:
        return http_json(self.webapp.url + path)


def start_live_demo(
    plane: ControlPlane, namespace: str, webapp_env: dict[str, str] | None = None
) -> LiveDemo:
    webapp = serve({"HOST": "0.0.0.0", **(webapp_env or {})})
    port = int(webapp.url.rsplit(":", 1)[1])
    core = client.CoreV1Api(plane.api_client())
    apply(plane, sample(namespace, port=port))
    eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    kubelet = KubeletActor(core, namespace, "demo-webapp", pod_ip=host_address())
    kubelet.run_container()
    eventually(lambda: status_of(plane, namespace).get("phase") == "Running", what="Running")
    return LiveDemo(namespace, kubelet, webapp)


def stop(webapp: Served) -> None:
    if webapp.proc.poll() is None:
        webapp.proc.kill()
    webapp.proc.wait(timeout=10)


@pytest.fixture
def live_demo(
    operator: LocalOperator, installed: ControlPlane, namespace: str
) -> Iterator[LiveDemo]:
    demo = start_live_demo(installed, namespace)
    yield demo
    stop(demo.webapp)


@pytest.fixture(params=["events", "kubelet"])
def either_source(
    request: pytest.FixtureRequest,
    operator: LocalOperator,
    installed: ControlPlane,
    namespace: str,
) -> Iterator[LiveDemo]:
    """A live demo counted from the Events alone, or placed on a stand-in kubelet's Node."""
    demo = start_live_demo(installed, namespace)
    with ExitStack() as stack:
        stack.callback(stop, demo.webapp)
        if request.param == "kubelet":
            demo.kubelet.place(stack.enter_context(standin_node(installed)))
        yield demo


def on_the_kubelet(demo: LiveDemo) -> bool:
    return bool(demo.kubelet.uid)


def past_the_events(plane: ControlPlane, demo: LiveDemo) -> int:
    """Where the kubelet counts: 2 more failures of the new container that its counter tells
    and no Event does (the Events' budget is the test's to spend); the total the status must
    then show."""
    if not on_the_kubelet(demo):
        return 3
    demo.kubelet.counted(5)
    eventually(lambda: status_of(plane, demo.namespace).get("probeFailures") == 5, what="5")
    return 5


@pytest.fixture
def admin(installed: ControlPlane) -> Path:
    return installed.kubeconfig("admin")


def journal(since: datetime, ended: datetime) -> str:
    """The webapp's account of a liveness kill: failing since `since`, SIGTERM at `ended`."""
    iso = "%Y-%m-%dT%H:%M:%S.%f"
    exit_ = {"c": 0, "cause": "sigterm", "at": ended.strftime(iso)[:-3] + "Z", "streak": 3,
             "since": since.strftime(iso)[:-3] + "Z"}  # fmt: skip
    return JOURNAL + json.dumps({"containers": 2, "livenessFailures": 3, "exits": [exit_]})


def play_a_liveness_restart(plane: ControlPlane, demo: LiveDemo) -> dict[str, Any]:
    """/start-failing as the kubelet tells it: 3 failed probes, the kill, the new container;
    returns the status once the operator recorded it all."""
    kubelet = demo.kubelet
    first_failure = datetime.now(UTC)
    unhealthy = kubelet.event("Unhealthy", LIVENESS_500)
    kubelet.liveness_failed(unhealthy, 3)  # and the kubelet's counter, on a stand-in's Node
    kubelet.event("Killing", KILLING, event_type="Normal")
    ended = kubelet.terminated(exit_code=0, reason="Completed")
    # The webapp's own clock: its first failed answer, and SIGTERM (exactly) 4 s later.
    ended["message"] = journal(first_failure, first_failure + timedelta(seconds=4))
    kubelet.run_container(restarts=1, last_terminated=ended)
    core = client.CoreV1Api(plane.api_client())
    return eventually(
        lambda: (s := status_of(plane, demo.namespace)).get("restarts") == 1
        and s["history"][0].get("recoverySeconds") is not None
        and "Restarted" in {e.reason for e in events_about(core, demo.namespace, "demo")}
        and s,
        what="the restart recorded, with its recovery, and its Event",
    )  # fmt: skip


def test_timeline_of_a_recorded_restart(
    installed: ControlPlane, either_source: LiveDemo, admin: Path
) -> None:
    live_demo = either_source
    recorded = play_a_liveness_restart(installed, live_demo)
    item = recorded["history"][0]
    assert (item["measuredSeconds"], item["expectedSeconds"]) == (4.0, 4)
    assert item["probeFailures"] == 3
    failures = past_the_events(installed, live_demo)

    result = run_plugin("timeline", "demo", "-n", live_demo.namespace, kubeconfig=admin)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"HealthDemo {live_demo.namespace}/demo")
    assert f"restarts 1 (LivenessProbe 1)  ·  liveness failures {failures}" in result.stdout
    assert "counts exact" in result.stdout
    assert "killed 4 s after the first failure" in result.stdout  # the probe math
    # In story order (the fake kubelet tells it all within a second or two: ties keep it).
    whats = [w for line in lines for w in WHATS if w in line]
    assert [w for w in whats if w != "restart recorded"] == [
        "HealthDemo created",
        "liveness failing",  # the webapp's journal and the kubelet's first Unhealthy, one row
        "killed: liveness probe",  # the kubelet's Killing and the history item, one row
        "ready again",
    ], result.stdout
    assert "restart recorded" in whats  # the operator's Event
    (kill,) = [line for line in lines if "killed: liveness probe" in line]
    assert "4.0 s" in kill  # measured: the journal's first failed answer to the kill
    assert " 4 s " in kill  # expected: (failureThreshold - 1) x periodSeconds
    assert "kubelet, status" in kill
    (ready,) = [line for line in lines if "ready again" in line]
    assert f"{item['recoverySeconds']:.1f} s" in ready


WHATS = (
    "HealthDemo created",
    "liveness failing",
    "killed: liveness probe",
    "restart recorded",
    "ready again",
)


def test_break_and_heal_through_the_pod_proxy(live_demo: LiveDemo, admin: Path) -> None:
    ns = ("-n", live_demo.namespace)
    assert live_demo.webapp_says("/healthz")[0] == 200
    broke = run_plugin("break", "demo", *ns, kubeconfig=admin)
    assert broke.returncode == 0, broke.stderr
    assert "demo-webapp: POST /start-failing → 200" in broke.stdout
    assert "kills it 4 s after the first failed probe" in broke.stdout
    assert live_demo.webapp_says("/healthz")[0] == 500  # the webapp itself is broken

    healed = run_plugin("heal", "demo", *ns, kubeconfig=admin)
    assert healed.returncode == 0, healed.stderr
    assert live_demo.webapp_says("/healthz")[0] == 200

    assert (
        run_plugin("break", "demo", *ns, "--how", "readiness-off", kubeconfig=admin).returncode == 0
    )
    assert live_demo.webapp_says("/readyz")[0] == 503
    assert run_plugin("heal", "demo", *ns, kubeconfig=admin).returncode == 0
    assert live_demo.webapp_says("/readyz")[0] == 200

    fail_next = run_plugin("break", "demo", *ns, "--how=fail-next=2", kubeconfig=admin)
    assert '{"failNext":2}' in fail_next.stdout
    assert "forgives them, no restart" in fail_next.stdout
    hang = run_plugin("break", "demo", *ns, "--how=hang=0.2", kubeconfig=admin)
    assert '{"hangSeconds":0.2}' in hang.stdout
    assert run_plugin("heal", "demo", *ns, kubeconfig=admin).returncode == 0

    # The webapp's own refusal: a process outside a container has no memory limit to reach.
    oom = run_plugin("break", "demo", *ns, "--how", "oom", kubeconfig=admin)
    assert oom.returncode == 1
    assert oom.stderr.startswith("error: the webapp answered POST /oom with HTTP 409:")
    assert len(oom.stderr.splitlines()) == 1

    crash = run_plugin("break", "demo", *ns, "--how", "crash", kubeconfig=admin)
    assert crash.returncode == 0, crash.stderr
    assert live_demo.webapp.proc.wait(timeout=10) == 1  # really gone, with code 1


def test_faults_disabled_is_told_apart_from_rbac(
    operator: LocalOperator, installed: ControlPlane, namespace: str, admin: Path
) -> None:
    demo = start_live_demo(installed, namespace, {"WEBAPP_FAULTS": "disabled"})
    try:
        result = run_plugin("break", "demo", "-n", namespace, kubeconfig=admin)
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: the webapp in Pod demo-webapp refuses faults (HTTP 403)")
        assert "WEBAPP_FAULTS=disabled" in line
        assert "RBAC" not in line
        assert demo.webapp_says("/healthz")[0] == 200  # not broken
    finally:
        stop(demo.webapp)


def test_no_such_healthdemo(installed: ControlPlane, namespace: str, admin: Path) -> None:
    for command in ("timeline", "break", "heal", "watch"):
        result = run_plugin(command, "nope", "-n", namespace, kubeconfig=admin)
        assert result.returncode == 1
        assert result.stderr == f'error: no HealthDemo "nope" in namespace "{namespace}"\n'


def test_no_pod_yet(
    operator: LocalOperator, installed: ControlPlane, namespace: str, admin: Path
) -> None:
    apply(installed, sample(namespace, name="invalid", image="Flask-Webapp:latest"))
    eventually(lambda: status_of(installed, namespace, "invalid").get("phase") == "Invalid")
    result = run_plugin("break", "invalid", "-n", namespace, kubeconfig=admin)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith('error: HealthDemo "invalid" has no Pod yet (phase Invalid: ')
    assert "repository names must be lowercase" in line
    # Its timeline is no error: it tells what there is.
    story = run_plugin("timeline", "invalid", "-n", namespace, kubeconfig=admin)
    assert story.returncode == 0, story.stderr
    assert "Invalid, not ready" in story.stdout
    assert "InvalidSpec" in story.stdout  # the operator's Warning Event


def test_a_pod_not_running_yet(
    operator: LocalOperator, installed: ControlPlane, namespace: str, admin: Path
) -> None:
    apply(installed, sample(namespace))  # the operator creates the Pod; no kubelet runs it
    core = client.CoreV1Api(installed.api_client())
    eventually(lambda: read_pod(core, namespace, "demo-webapp"), what="the Pod")
    result = run_plugin("heal", "demo", "-n", namespace, kubeconfig=admin)
    assert result.returncode == 1
    assert result.stderr.startswith("error: Pod demo-webapp is not running yet (phase Pending")


def test_a_replica_is_reached_by_its_number(
    operator: LocalOperator, installed: ControlPlane, namespace: str, admin: Path
) -> None:
    apply(installed, sample(namespace, replicas=2))
    core = client.CoreV1Api(installed.api_client())
    eventually(lambda: read_pod(core, namespace, "demo-webapp-1"), what="replica 1's Pod")
    result = run_plugin("break", "demo", "--replica", "1", "-n", namespace, kubeconfig=admin)
    assert result.returncode == 1  # its Pod, not replica 0's: not running (no kubelet here)
    assert result.stderr.startswith("error: Pod demo-webapp-1 is not running yet")
    beyond = run_plugin("heal", "demo", "--replica", "2", "-n", namespace, kubeconfig=admin)
    assert beyond.returncode == 1
    assert beyond.stderr == 'error: HealthDemo "demo" has 2 replica(s): --replica is 0 to 1\n'


HEALTHDEMOS = {"apiGroups": ["demo.example.com"], "resources": ["healthdemos"]}
PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
EVENTS = {"apiGroups": [""], "resources": ["events"]}


def test_rbac_refused_names_what_is_needed(
    installed: ControlPlane, live_demo: LiveDemo, tmp_path: Path
) -> None:
    ns = live_demo.namespace
    reader = mint_user(installed, tmp_path, "hd-reader", ns)
    grant(installed, ns, "hd-reader", [{**HEALTHDEMOS, "verbs": ["get"]}])
    refusals = {
        "timeline": '"list events"',
        "watch": '"list events"',
        "break": '"get pods"',
        "heal": '"get pods"',
    }
    for command, needed in refusals.items():
        result = run_plugin(command, "demo", kubeconfig=reader)  # the context's namespace
        assert result.returncode == 1, command
        (line,) = result.stderr.splitlines()
        assert line.startswith(f'error: RBAC refused {needed} in namespace "{ns}"'), line
        assert 'User "hd-reader" cannot' in line  # the API server's own words follow

    no_proxy = mint_user(installed, tmp_path, "no-proxy", ns)
    grant(installed, ns, "no-proxy", [{**HEALTHDEMOS, "verbs": ["get"]}, PODS])
    result = run_plugin("break", "demo", kubeconfig=no_proxy)
    assert result.returncode == 1
    assert result.stderr.startswith(f'error: RBAC refused "create pods/proxy" in namespace "{ns}"')
    assert live_demo.webapp_says("/healthz")[0] == 200

    no_watch = mint_user(installed, tmp_path, "no-watch", ns)
    grant(installed, ns, "no-watch", [{**HEALTHDEMOS, "verbs": ["get"]},
                                      {**EVENTS, "verbs": ["list", "watch"]}])  # fmt: skip
    result = run_plugin("watch", "demo", kubeconfig=no_watch, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith('error: RBAC refused "watch healthdemos"'), result.stderr


def test_the_healthdemo_user_role_is_enough(
    installed: ControlPlane, live_demo: LiveDemo, tmp_path: Path
) -> None:
    """deploy/user-rbac.yaml (applied with deploy/) lets a user run every command."""
    user = mint_user(installed, tmp_path, "demo-user", live_demo.namespace)
    grant(installed, live_demo.namespace, "demo-user", cluster_role="healthdemo-user")
    assert run_plugin("break", "demo", kubeconfig=user).returncode == 0
    assert live_demo.webapp_says("/healthz")[0] == 500
    assert run_plugin("heal", "demo", kubeconfig=user).returncode == 0
    assert live_demo.webapp_says("/healthz")[0] == 200
    story = run_plugin("timeline", "demo", kubeconfig=user)
    assert story.returncode == 0, story.stderr
    # break --how delete (the traffic lessons) deletes one of the namespace's Pods; asked of the
    # API server rather than done, so this module's Pod stays.
    can = installed.kubectl(
        "auth", "can-i", "delete", "pods", "-n", live_demo.namespace, "--as", "demo-user",
        check=False,
    )  # fmt: skip
    assert can.stdout.strip() == "yes", can
    watching = watch(user)
    try:
        watching.wait_for("HealthDemo created")
    finally:
        assert watching.stop() == 0


class Watching:
    """`kubectl healthdemo watch` into a pipe, its lines collected as they come."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(PLUGIN), "watch", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=plugin_env(),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 30) -> str:
        return eventually(
            lambda: (
                next((line for line in self.lines if text in line), None)
                or (self.proc.poll() is not None and self._died())
            ),
            timeout=timeout,
            what=f"a line with {text!r} (so far: {self.lines})",
        )

    def _died(self) -> str:
        assert self.proc.stderr is not None
        raise AssertionError(f"watch exited {self.proc.returncode}: {self.proc.stderr.read()}")

    def stop(self) -> int:
        """Ctrl-C, as a user ends it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        return code


def watch(kubeconfig: Path, *args: str) -> Watching:
    return Watching("--kubeconfig", str(kubeconfig), *args)


def test_watch_appends_the_story_as_it_happens(
    installed: ControlPlane, either_source: LiveDemo, admin: Path
) -> None:
    live_demo = either_source
    watching = watch(admin, "-n", live_demo.namespace)
    try:
        first = watching.wait_for("== ")
        assert f"{live_demo.namespace}/demo: Running" in first
        watching.wait_for("HealthDemo created")
        play_a_liveness_restart(installed, live_demo)
        kill = watching.wait_for("measured 4.0 s, expected 4 s")
        assert "killed: liveness probe" in kill
        watching.wait_for("ready again")
        watching.wait_for("restarts 1")  # the summary line, printed again on a change
        failures = past_the_events(installed, live_demo)
        assert "counts exact" in watching.wait_for(f"liveness failures {failures}")
    finally:
        assert watching.stop() == 0


def test_namespace_and_context_from_the_kubeconfig(
    installed: ControlPlane, live_demo: LiveDemo, admin: Path, tmp_path: Path
) -> None:
    """Like kubectl: the context's namespace by default; --context picks another context."""
    import yaml  # noqa: PLC0415

    config = yaml.safe_load(admin.read_text())
    (context,) = config["contexts"]
    config["contexts"] = [
        {"name": "elsewhere", "context": {**context["context"], "namespace": "default"}},
        {"name": "demo-ns", "context": {**context["context"], "namespace": live_demo.namespace}},
    ]
    config["current-context"] = "demo-ns"
    path = tmp_path / "two-contexts.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert run_plugin("timeline", "demo", kubeconfig=path).returncode == 0
    elsewhere = run_plugin("timeline", "demo", "--context", "elsewhere", kubeconfig=path)
    assert elsewhere.stderr == 'error: no HealthDemo "demo" in namespace "default"\n'
    by_env = subprocess.run(
        [str(PLUGIN), "timeline", "demo"],
        capture_output=True,
        text=True,
        env={**plugin_env(), "KUBECONFIG": f"{tmp_path / 'missing'}{os.pathsep}{path}"},
        check=False,
    )
    assert by_env.returncode == 0, by_env.stderr  # $KUBECONFIG, a list, like kubectl's
    unknown = run_plugin("timeline", "demo", "--context", "nowhere", kubeconfig=path)
    assert unknown.stderr.startswith("error: --context nowhere: not in the kubeconfig")


def test_kubectl_runs_it_as_a_plugin(
    installed: ControlPlane, live_demo: LiveDemo, admin: Path
) -> None:
    """`kubectl healthdemo ...`: kubectl finds kubectl-healthdemo on PATH and passes the rest."""
    env = {**plugin_env(), "PATH": f"{PLUGIN.parent}{os.pathsep}{os.environ['PATH']}"}
    kubectl = str(installed.binaries["kubectl"])
    result = subprocess.run(
        [kubectl, "healthdemo", "timeline", "demo", "-n", live_demo.namespace,
         "--kubeconfig", str(admin)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"HealthDemo {live_demo.namespace}/demo" in result.stdout
    listed = subprocess.run(
        [kubectl, "plugin", "list"], capture_output=True, text=True, env=env, check=False
    )
    assert str(PLUGIN) in listed.stdout
