"""Suite-wide fixtures: the real control plane (session-scoped, started once)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, TypeVar

import pytest
from healthdemo_sandbox import binaries, bringup, releases, waiting
from healthdemo_sandbox.controlplane.certs import CertificateAuthority
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.kubeletstandin import ApiAuthorizer, KubeletStandIn
from healthdemo_sandbox.localoperator import LocalOperator
from healthdemo_sandbox.node import cgroups, runtime
from healthdemo_sandbox.paths import ROOT
from healthdemo_sandbox.ports import free_port
from healthdemo_sandbox.timings import describe
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["ROOT", "free_port"]  # for the tests that import them from here

REQUIRE_CONTROLPLANE = "HEALTHDEMO_REQUIRE_CONTROLPLANE"
REQUIRE_NODE = "HEALTHDEMO_REQUIRE_NODE"
NO_SKIPS = "HEALTHDEMO_NO_SKIPS"
T = TypeVar("T")


def pytest_configure() -> None:
    """An unknown KUBE_VERSION stops the run at once, with one line naming the supported ones."""
    try:
        releases.selected()
    except releases.UnsupportedRelease as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header() -> str:
    """Which release and runtime this run proves, at the top of every run's output (CI's too)."""
    chosen = os.environ.get(releases.ENV) or "unset: the newest supported"
    return (
        f"Kubernetes {releases.selected().version} ({releases.ENV}: {chosen}); node runtime "
        f"containerd {runtime.CONTAINERD_VERSION}, runc {runtime.RUNC_VERSION}; "
        f"{cgroups.describe()}"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Where CI runs the suite, a skipped or deselected test fails the run: a test CI should
    run must never pass by not running."""
    if os.environ.get(NO_SKIPS) != "1" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {})
    missing = {kind: len(stats.get(kind, ())) for kind in ("skipped", "deselected", "xfailed")}
    if any(missing.values()):
        print(f"\n{NO_SKIPS}=1 but not every test ran: {missing}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def unavailable(reason: str, require_var: str) -> NoReturn:
    """Skip with one clear reason — or fail, where CI requires the real thing."""
    if os.environ.get(require_var) == "1":
        pytest.fail(f"{reason} ({require_var}=1: this must run here, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def controlplane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager from the real binaries, on loopback."""
    try:
        paths = bringup.find_binaries(allow_build=False)
    except binaries.MissingBinaries as exc:
        unavailable(f"no control plane: {exc}", REQUIRE_CONTROLPLANE)
    plane = bringup.start_plane(paths)
    print(f"\ncontrol plane at {plane.server} started ({describe(plane.timings)})", file=sys.stderr)
    yield plane
    plane.stop()


def http_json(url: str, method: str = "GET", timeout: float = 5) -> tuple[int, Any]:
    """One real HTTP request (a fresh connection, as the kubelet's prober makes); (status, JSON)."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class WebappClient:
    """Talks to one running webapp (a process, a container, a Pod) at `url`."""

    url: str

    def call(self, path: str, method: str = "GET", timeout: float = 5) -> tuple[int, Any]:
        return http_json(self.url + path, method, timeout)

    def first_answer(self, path: str, timeout: float = 30) -> tuple[int, Any]:
        """The webapp's first answer to `path`. A Pod with no readiness probe is Ready once its
        container has started, which is before the app listens: connections are refused until
        then."""

        def answer() -> tuple[int, Any] | None:
            try:
                return self.call(path)
            except (ConnectionRefusedError, urllib.error.URLError) as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    raise
                return None

        return eventually(answer, timeout=timeout, what=f"an answer to {path} from {self.url}")

    def healthy_to_the_kubelet(self) -> None:
        """Wait for a successful liveness answer to the kubelet in this container. The kubelet
        counts failures in a row, also a first probe that timed out while the app was still
        starting; after a success it counts from zero, so a test's failures are all it counts."""
        eventually(
            lambda: self._kubelet_liveness_successes() > 0, what="a successful liveness answer"
        )

    def _kubelet_liveness_successes(self) -> int:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            return kubelet_liveness_successes(response.read().decode())


@dataclass(frozen=True)
class Scraped:
    """A Prometheus text scrape, parsed by prometheus_client's own parser."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    help: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Scraped:
        families = list(text_string_to_metric_families(text))
        return cls(
            {
                (s.name, frozenset(s.labels.items())): s.value
                for family in families
                for s in family.samples
            },
            {family.name: family.documentation for family in families},
        )

    def __call__(self, name: str, **labels: str) -> float | None:
        """The value of the sample with exactly these labels (None: no such series)."""
        return self.samples.get((name, frozenset(labels.items())))

    def series(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample named `name`."""
        return [dict(labels) for found, labels in self.samples if found == name]


def kubelet_liveness_successes(metrics_text: str) -> int:
    """Successful liveness answers to the kubelet, from a webapp container's own /metrics."""
    found = Scraped.parse(metrics_text)(
        "webapp_probe_requests_total", probe="liveness", result="success", source="kubelet"
    )
    return int(found or 0)


def eventually(
    check: Callable[[], T | Literal[False] | None], timeout: float = 30, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy (returned) or `timeout` passes (fail)."""
    last = waiting.poll(check, timeout=timeout, interval=0.2)
    if last:
        return last
    raise AssertionError(f"{what} not reached within {timeout} s (last: {last!r})")


@pytest.fixture(scope="session")
def installed(controlplane: ControlPlane) -> ControlPlane:
    """The CRDs and deploy/ (namespace, ServiceAccount, RBAC, Deployment) applied with kubectl."""
    bringup.install(controlplane)
    return controlplane


@pytest.fixture
def core(installed: ControlPlane) -> client.CoreV1Api:
    """The core API as the admin (the test's own view, not the operator's)."""
    return client.CoreV1Api(installed.api_client())


@pytest.fixture
def custom(installed: ControlPlane) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(installed.api_client())


@pytest.fixture
def namespace(installed: ControlPlane) -> Iterator[str]:
    """A fresh namespace on the shared control plane, deleted (in the background) afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    installed.kubectl("create", "namespace", name)
    yield name
    installed.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def operator(
    installed: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalOperator]:
    """The operator running as its ServiceAccount, with exactly deploy/'s RBAC."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = bringup.start_local_operator(installed, log)
    yield process
    process.stop()
    assert process.forbidden() == [], "the operator was refused by RBAC"


@contextmanager
def standin_node(
    plane: ControlPlane,
    serving_ca: CertificateAuthority | None = None,
    address: str = "127.0.0.1",
) -> Iterator[KubeletStandIn]:
    """A Node whose kubelet is a stand-in (a real HTTPS server with the kubelet's
    `/metrics/probes` and its authentication and authorization, asked of the API server), so
    that the operator reads probe counters for the Pods a test places on it; `serving_ca`: a
    serving certificate the cluster CA did not sign."""
    name = f"standin-{uuid.uuid4().hex[:8]}"
    admin = plane.api_client()
    standin = KubeletStandIn(
        name, plane.ca, authorize=ApiAuthorizer(admin, name), serving_ca=serving_ca,
        address=address,
    )  # fmt: skip
    core = client.CoreV1Api(admin)
    standin.register(core)
    try:
        yield standin
    finally:
        standin.stop()
        standin.unregister(core)


@pytest.fixture
def kubelet_node(installed: ControlPlane) -> Iterator[KubeletStandIn]:
    with standin_node(installed) as standin:
        yield standin
