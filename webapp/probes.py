"""The endpoints the kubelet probes: /healthz (liveness), /readyz (readiness), /startupz.

Each answer is also kept in the recent-calls buffer (webapp/recent.py), with who asked."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, g, jsonify, request

from webapp.journal import Journal
from webapp.recent import ProbeCall, RecentCalls
from webapp.state import HealthState, Verdict, iso

KUBE_PROBE = "kube-probe/"  # the kubelet's prober names itself so in the User-Agent
# The exec check (webapp/check.py) runs because the kubelet runs it: its answers count as the
# kubelet's too.
EXEC_CHECK = "healthdemo-exec-check/"

bp = Blueprint("probes", __name__)


def health_state() -> HealthState:
    state: HealthState = current_app.extensions["health_state"]
    return state


def journal() -> Journal:
    found: Journal = current_app.extensions["journal"]
    return found


def recent_calls() -> RecentCalls:
    found: RecentCalls = current_app.extensions["recent_probes"]
    return found


def from_kubelet() -> bool:
    return request.user_agent.string.startswith((KUBE_PROBE, EXEC_CHECK))


PROBES = {"probes.healthz": "liveness", "probes.readyz": "readiness", "probes.startupz": "startup"}


@bp.before_request
def _clock() -> None:
    g.probe_arrived = time.monotonic()


@bp.after_request
def _record(response: Response) -> Response:
    """Keep this answer among the recent calls: what was answered, to whom, how late."""
    probe = PROBES.get(request.endpoint or "")
    if probe is None:
        return response
    failed = bool(g.get("probe_failed", response.status_code >= 400))  # a late 200 failed too
    body = response.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    answer = f"{response.status_code} {reason}" if reason else str(response.status_code)
    if failed and response.status_code < 400:
        answer += " too late"  # after /hang: past the probe's timeoutSeconds
    agent = request.user_agent.string
    call = ProbeCall(
        probe=probe,
        kind="exec" if agent.startswith(EXEC_CHECK) else "http",
        ok=not failed,
        answer=answer,
        kubelet=from_kubelet(),
        user_agent=agent,
        peer=request.remote_addr or "",
        took_ms=(time.monotonic() - g.probe_arrived) * 1000,
    )
    recent_calls().add(call)
    return response


def answer(verdict: Verdict, failure_code: int, failing: str = "failing") -> tuple[Response, int]:
    """The JSON answer to a check: 200, or failure_code with why."""
    if verdict.healthy:
        return jsonify(status="ok"), 200
    body: dict[str, object] = {"status": failing, "reason": verdict.reason}
    if verdict.since is not None:
        body["since"] = iso(verdict.since)
    if verdict.reason == "fail-next":
        body["remaining"] = verdict.remaining
    return jsonify(body), failure_code


@dataclass(frozen=True)
class LivenessAnswer:
    verdict: Verdict
    delay: float  # how long to wait before answering (/hang)
    failed: bool  # as the kubelet sees it: a late success is a failure


def decide_liveness(*, kubelet: bool, waited: float = 0.0) -> LivenessAnswer:
    """One liveness check, whatever the probe kind asked: decided when it arrives, so a kill
    during a hang still finds it in the journal. `waited`: how long the probe had already been
    under way when it reached this handler (a slow connect, a busy server); the journal dates
    the answer from the kubelet's start, the moment its probe math counts from."""
    state = health_state()
    arrived = time.time() - waited
    delay = state.hang_seconds()
    verdict = state.check_liveness()
    # The kubelet gives up after timeoutSeconds: for it, a late 200 is a failure.
    failed = not verdict.healthy or delay >= current_app.config["LIVENESS_TIMEOUT_SECONDS"]
    if kubelet:
        journal().liveness_answer(failed=failed, at=arrived)
    return LivenessAnswer(verdict, delay, failed)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness: 200 while healthy, 500 while failing or starting. After /hang it answers only
    after a delay, so a probe with a shorter timeoutSeconds counts a failure."""
    decided = decide_liveness(kubelet=from_kubelet())
    g.probe_failed = decided.failed
    if decided.delay > 0:
        time.sleep(decided.delay)
    return answer(decided.verdict, 500)


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 503 takes the Pod out of Service endpoints but never restarts it."""
    verdict = health_state().check_readiness()
    if verdict.healthy:
        return jsonify(status="ready"), 200
    return answer(verdict, 503, failing="not ready")


@bp.get("/startupz")
def startupz() -> tuple[Response, int]:
    """Startup: 503 until the startup delay (WEBAPP_STARTUP_DELAY_SECONDS) is over."""
    verdict = health_state().check_startup()
    if verdict.healthy:
        return jsonify(status="started"), 200
    return answer(verdict, 503, failing="starting")
