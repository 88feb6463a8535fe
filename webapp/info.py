"""GET /: who answered and what state it is in — the page a demo user looks at first.

JSON for clients (curl, scripts), the live page (webapp/page.py) for a browser. GET
/probes/recent: the last probe calls answered, with who asked (webapp/recent.py).
"""

from __future__ import annotations

import os
import socket

from flask import Blueprint, Response, current_app, jsonify

from webapp import page
from webapp.probes import health_state, journal, recent_calls
from webapp.state import iso

bp = Blueprint("info", __name__)


@bp.get("/")
def index() -> Response:
    response = page.render() if page.wanted() else describe()
    response.vary.add("Accept")  # one URL, two representations: caches must keep both
    return response


def describe() -> Response:
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
