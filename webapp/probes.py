"""The two endpoints the kubelet probes: /healthz (liveness) and /readyz (readiness)."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify

from webapp.state import HealthState, iso

bp = Blueprint("probes", __name__)


def health_state() -> HealthState:
    state: HealthState = current_app.extensions["health_state"]
    return state


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness: 200 while healthy, 500 while failing. After /hang it answers only after a delay,
    so a probe with a shorter timeoutSeconds counts a failure."""
    state = health_state()
    delay = state.hang_seconds()
    if delay > 0:
        time.sleep(delay)
    verdict = state.check_liveness()
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
