"""GET /work: what the traffic client asks for — a request a user would send through the Service.

It answers with the Pod that served it, so the client can count who answered, and it fails (500)
while the app is broken (liveness failing): a broken app serves errors until the kubelet kills
it. Readiness does not change the answer — readiness only decides whether the Service sends
requests here at all, which is the lesson.

Counted by source in `webapp_work_requests` (source=traffic for the traffic client's
User-Agent): the Pod's own count, a truth independent of the client's.
"""

from __future__ import annotations

import socket

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import Counter

from webapp.probes import health_state

bp = Blueprint("work", __name__)
TRAFFIC_AGENT = "healthdemo-traffic/"  # the traffic client's User-Agent prefix


class WorkCounter:
    def __init__(self, app: Flask) -> None:
        self.requests = Counter(
            "webapp_work_requests",
            "GET /work answered, by source (traffic: the traffic client) and code.",
            ["source", "code"],
            registry=app.extensions["metrics"].registry,
        )


def register(app: Flask) -> None:
    app.extensions["work"] = WorkCounter(app)
    app.register_blueprint(bp)


@bp.get("/work")
def work() -> tuple[Response, int]:
    healthy = health_state().is_healthy()
    code = 200 if healthy else 500
    source = "traffic" if request.user_agent.string.startswith(TRAFFIC_AGENT) else "other"
    current_app.extensions["work"].requests.labels(source, str(code)).inc()
    body = {"pod": socket.gethostname(), "ok": healthy}
    return jsonify(body), code
