"""GET /: who answered and what state it is in — the page a demo user looks at first.

GET /probes/recent: the last probe calls answered, with who asked (webapp/recent.py).
"""

from __future__ import annotations

import os
import socket

from flask import Blueprint, Response, current_app, jsonify

from webapp.probes import health_state, journal, recent_calls
from webapp.state import iso

bp = Blueprint("info", __name__)


@bp.get("/")
def index() -> Response:
    state = health_state()
    return jsonify(
        app=current_app.config["APP_NAME"],
        version=current_app.config["VERSION"],
        hostname=socket.gethostname(),
        pid=os.getpid(),
        startedAt=iso(state.started),
        uptimeSeconds=round(state.uptime(), 3),
        faults=current_app.config["FAULTS"],
        **state.snapshot(),
        pod=journal().snapshot(),
    )


@bp.get("/probes/recent")
def recent_probes() -> Response:
    """The last probe calls, newest first: the kubelet at work, call by call."""
    return jsonify(recent_calls().snapshot())
