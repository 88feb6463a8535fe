"""Every endpoint and error of the webapp, through Flask's test client (no server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp.app import create_app


@pytest.fixture
def crashes() -> list[int]:
    return []


@pytest.fixture
def app(crashes: list[int]) -> Flask:
    return create_app({"CRASH": crashes.append})


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def liveness(client: FlaskClient) -> int:
    return client.get("/healthz").status_code


def test_index_describes_the_instance(client: FlaskClient) -> None:
    client.get("/healthz")
    body: dict[str, Any] = client.get("/").get_json()
    assert body["app"] == "flask-webapp"
    assert body["version"] == "0.1.0"
    assert isinstance(body["pid"], int)
    assert body["hostname"]
    assert body["uptimeSeconds"] >= 0
    assert body["liveness"] == {
        "healthy": True,
        "failingSince": None,
        "failNext": 0,
        "hangSeconds": 0.0,
    }
    assert body["readiness"] == {"ready": True, "failNext": 0}
    assert body["counters"]["livenessChecks"] == 1


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_start_failing_makes_liveness_fail_until_stopped(client: FlaskClient, method: str) -> None:
    started = client.open("/start-failing", method=method).get_json()
    assert started["liveness"] == "failing"
    for _ in range(3):
        response = client.get("/healthz")
        assert response.status_code == 500
        assert response.get_json()["since"] == started["since"]
        assert response.get_json()["reason"] == "start-failing"
    # A repeat keeps the original since-time: the episode began at the first call.
    assert client.post("/start-failing").get_json()["since"] == started["since"]
    assert client.get("/").get_json()["counters"]["livenessFailures"] == 3
    assert client.open("/stop-failing", method=method).get_json() == {"liveness": "ok"}
    assert liveness(client) == 200


def test_readiness_toggles_without_touching_liveness(client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.post("/readyz/disable").get_json() == {"readiness": "disabled"}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "not ready"
    assert liveness(client) == 200
    client.post("/readyz/enable")
    assert client.get("/readyz").status_code == 200


def test_fail_next_fails_exactly_n_checks(client: FlaskClient) -> None:
    assert client.post("/fail-next?count=2").get_json() == {"failNext": 2}
    first = client.get("/healthz")
    assert first.status_code == 500
    assert first.get_json() == {"status": "failing", "reason": "fail-next", "remaining": 1}
    assert liveness(client) == 500
    assert [liveness(client) for _ in range(3)] == [200, 200, 200]


def test_fail_next_accepts_form_body(client: FlaskClient) -> None:
    client.post("/fail-next", data={"count": "1"})
    assert [liveness(client), liveness(client)] == [500, 200]


def test_hang_delays_liveness(client: FlaskClient) -> None:
    assert client.post("/hang?seconds=0.3").get_json() == {"hangSeconds": 0.3}
    start = time.monotonic()
    assert liveness(client) == 200
    assert time.monotonic() - start >= 0.3
    client.post("/stop-failing")
    assert client.get("/").get_json()["liveness"]["hangSeconds"] == 0.0


def test_crash_calls_the_crash_action_with_the_exit_code(
    client: FlaskClient, crashes: list[int]
) -> None:
    response = client.post("/crash")
    assert response.status_code == 202
    assert response.get_json() == {"crashing": True, "exitCode": 1}
    assert crashes == [1]


def test_crash_exits_with_the_code_asked_for(client: FlaskClient, crashes: list[int]) -> None:
    """A restart rule matches exit codes: the lesson picks one."""
    response = client.post("/crash?code=42")
    assert response.status_code == 202
    assert response.get_json() == {"crashing": True, "exitCode": 42}
    refused = client.post("/crash?code=256")
    assert refused.status_code == 400
    assert "'code' must be from 0 to 255, got 256" in refused.get_data(as_text=True)
    assert crashes == [42]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/fail-next?count=-1", "'count' must be from 0 to 10000, got -1"),
        ("/fail-next?count=abc", "'count' must be an integer from 0 to 10000, got 'abc'"),
        ("/fail-next", "'count' is required: an integer from 0 to 10000"),
        ("/fail-next?count=10001", "'count' must be from 0 to 10000, got 10001"),
        ("/hang?seconds=abc", "'seconds' must be a number from 0 to 3600, got 'abc'"),
        ("/hang?seconds=-1", "'seconds' must be from 0 to 3600, got -1"),
        ("/hang?seconds=nan", "'seconds' must be from 0 to 3600, got nan"),
        ("/hang", "'seconds' is required: a number from 0 to 3600"),
    ],
)
def test_bad_input_is_a_400_with_a_message(client: FlaskClient, path: str, message: str) -> None:
    response = client.post(path)
    assert response.status_code == 400
    assert response.get_json() == {"error": "Bad Request", "message": message, "status": 400}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/healthz", ["GET", "HEAD", "OPTIONS"]),
        ("GET", "/crash", ["OPTIONS", "POST"]),
        ("GET", "/fail-next", ["OPTIONS", "POST"]),
        ("PUT", "/start-failing", ["GET", "HEAD", "OPTIONS", "POST"]),
        ("GET", "/readyz/disable", ["OPTIONS", "POST"]),
    ],
)
def test_unknown_method_is_a_405_with_the_allowed_ones(
    client: FlaskClient, method: str, path: str, allowed: list[str]
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 405
    body = response.get_json()
    assert body["allowed"] == allowed
    assert body["message"] == f"{method} is not allowed on {path}"
    assert set(response.headers["Allow"].split(", ")) == set(allowed)


def test_unknown_path_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not Found"


def test_metrics_count_requests_probes_and_state(client: FlaskClient) -> None:
    client.get("/healthz", headers={"User-Agent": "kube-probe/1.34"})
    client.post("/start-failing")
    client.get("/healthz", headers={"User-Agent": "kube-probe/1.34"})
    client.get("/readyz")
    client.post("/readyz/disable")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    lines = set(text.splitlines())
    assert 'webapp_http_requests_total{code="200",endpoint="/healthz",method="GET"} 1.0' in lines
    assert 'webapp_http_requests_total{code="500",endpoint="/healthz",method="GET"} 1.0' in lines
    assert (
        'webapp_probe_requests_total{probe="liveness",result="failure",source="kubelet"} 1.0'
        in lines
    )
    assert (
        'webapp_probe_requests_total{probe="liveness",result="success",source="kubelet"} 1.0'
        in lines
    )
    assert (
        'webapp_probe_requests_total{probe="readiness",result="success",source="other"} 1.0'
        in lines
    )
    assert "webapp_liveness_healthy 0.0" in lines
    assert "webapp_readiness_ready 0.0" in lines


def test_state_is_per_app_instance() -> None:
    """Two apps (two processes in real life) share nothing: a restart heals."""
    broken = create_app()
    broken.test_client().post("/start-failing")
    assert create_app().test_client().get("/healthz").status_code == 200


def test_faults_can_be_disabled_for_shared_clusters() -> None:
    client = create_app({"FAULTS": "disabled"}).test_client()
    response = client.post("/start-failing")
    assert response.status_code == 403
    assert "WEBAPP_FAULTS=disabled" in response.get_json()["message"]
    assert client.get("/healthz").status_code == 200


def test_faults_can_require_a_token() -> None:
    client = create_app({"FAULTS": "token", "FAULTS_TOKEN": "s3cret"}).test_client()
    assert client.post("/start-failing").status_code == 401
    assert client.post("/start-failing", headers={"X-Fault-Token": "wrong"}).status_code == 401
    assert client.post("/start-failing", headers={"X-Fault-Token": "s3cret"}).status_code == 200
    assert client.get("/healthz").status_code == 500


def test_oom_refuses_without_a_memory_limit(tmp_path: Path) -> None:
    app = create_app({"CGROUP_ROOT": str(tmp_path), "OOM": lambda _: None})
    (tmp_path / "memory.max").write_text("max\n")
    response = app.test_client().post("/oom")
    assert response.status_code == 409
    assert "no memory limit" in response.get_json()["message"]


def test_oom_allocates_under_a_limit_and_journals_first(tmp_path: Path) -> None:
    steps: list[int] = []
    app = create_app({"CGROUP_ROOT": str(tmp_path), "OOM": steps.append})
    (tmp_path / "memory.max").write_text("268435456\n")
    response = app.test_client().post("/oom")
    assert response.status_code == 202
    assert response.get_json() == {"allocating": True, "limitBytes": 268435456}
    assert steps == [16]
    assert app.extensions["journal"].message().count('"cause":"oom"') == 1


def test_startup_delay_holds_every_check_back() -> None:
    client = create_app({"STARTUP_DELAY_SECONDS": 3600}).test_client()
    assert client.get("/startupz").status_code == 503
    assert client.get("/healthz").get_json()["reason"] == "starting"
    assert client.get("/readyz").status_code == 503
    assert client.get("/").get_json()["startup"] == {"started": False, "delaySeconds": 3600}
