"""The two endpoints the kubelet probes: /healthz (liveness) and /readyz (readiness)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, g, jsonify, request

from webapp.journal import Journal
from webapp.state import HealthState, iso

KUBE_PROBE = "kube-probe/"  # the kubelet's prober names itself so in the User-Agent

bp = Blueprint("probes", __name__)


def health_state() -> HealthState:
    state: HealthState = current_app.extensions["health_state"]
    return state


def journal() -> Journal:
    found: Journal = current_app.extensions["journal"]
    return found


def from_kubelet() -> bool:
    return request.user_agent.string.startswith(KUBE_PROBE)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness: 200 while healthy, 500 while failing. After /hang it answers only after a delay,
    so a probe with a shorter timeoutSeconds counts a failure.

    The check is decided when it arrives: a kill during a hang still finds it in the journal.
    """
    state = health_state()
    arrived = time.time()
    delay = state.hang_seconds()
    verdict = state.check_liveness()
    # The kubelet gives up after timeoutSeconds: for it, a late 200 is a failure.
    g.probe_failed = not verdict.healthy or delay >= current_app.config["LIVENESS_TIMEOUT_SECONDS"]
    if from_kubelet():
        journal().liveness_answer(failed=g.probe_failed, at=arrived)
    if delay > 0:
        time.sleep(delay)
    if verdict.healthy:
        return jsonify(status="ok"), 200
    body: dict[str, object] = {"status": "failing", "reason": verdict.reason}
    if verdict.since is not None:
        body["since"] = iso(verdict.since)
    if verdict.reason == "fail-next":
        body["remaining"] = verdict.remaining
    return jsonify(body), 500


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 503 takes the Pod out of Service endpoints but never restarts it."""
    if health_state().check_readiness():
        return jsonify(status="ready"), 200
    return jsonify(status="not ready", reason="readiness disabled via /readyz/disable"), 503
