"""Prometheus metrics: requests by endpoint and code, probe requests, health gauges.

Each app gets its own registry so several apps in one process (tests) never collide.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from webapp.probes import from_kubelet
from webapp.state import HealthState

bp = Blueprint("metrics", __name__)

PROBE_ENDPOINTS = {"/healthz": "liveness", "/readyz": "readiness", "/startupz": "startup"}


class Metrics:
    def __init__(self, state: HealthState) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "webapp_http_requests",
            "HTTP requests by endpoint, method and status code.",
            ["endpoint", "method", "code"],
            registry=self.registry,
        )
        self.probe_requests = Counter(
            "webapp_probe_requests",
            "Requests to the probe endpoints; source=kubelet when the User-Agent is kube-probe/*.",
            ["probe", "result", "source"],
            registry=self.registry,
        )
        liveness = Gauge(
            "webapp_liveness_healthy", "1 while /healthz answers 200.", registry=self.registry
        )
        liveness.set_function(lambda: float(state.is_healthy()))
        readiness = Gauge(
            "webapp_readiness_ready", "1 while /readyz answers 200.", registry=self.registry
        )
        readiness.set_function(lambda: float(state.is_ready()))


def _count(response: Response) -> Response:
    metrics: Metrics = current_app.extensions["metrics"]
    # The URL rule, not the raw path, keeps label cardinality bounded under junk requests.
    endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
    metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
    probe = PROBE_ENDPOINTS.get(endpoint)
    if probe:
        source = "kubelet" if from_kubelet() else "other"
        failed = g.get("probe_failed", response.status_code >= 400)  # a late 200 failed too
        result = "failure" if failed else "success"
        metrics.probe_requests.labels(probe, result, source).inc()
    return response


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    metrics: Metrics = current_app.extensions["metrics"]
    return Response(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)


def register(app: Flask) -> None:
    app.extensions["metrics"] = Metrics(app.extensions["health_state"])
    app.after_request(_count)
    app.register_blueprint(bp)
