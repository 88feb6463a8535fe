"""The grpc probe's lesson: the standard grpc.health.v1 service, answering from the same switches.

The kubelet calls Health/Check with the probe's `service`: "" or "liveness" asks the liveness
question (so /start-failing makes it NOT_SERVING), "readiness" and "startup" the others. Any
other service is SERVICE_UNKNOWN, which the kubelet counts as a failure.
"""

from __future__ import annotations

import time
from concurrent import futures
from typing import Any

import grpc
from flask import Flask
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from webapp.metrics import Metrics
from webapp.probes import KUBE_PROBE, decide_liveness
from webapp.recent import ProbeCall, RecentCalls
from webapp.state import HealthState

SERVICES = ("", "liveness", "readiness", "startup")
Status = health_pb2.HealthCheckResponse


class GrpcHealth(health.HealthServicer):  # type: ignore[misc]  # grpcio ships no type hints
    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802  # gRPC's name
        arrived = time.monotonic()
        service = request.service
        agent = str(dict(context.invocation_metadata()).get("user-agent", ""))
        kubelet = agent.startswith(KUBE_PROBE)
        if service in SERVICES:
            probe = service or "liveness"
            with self.app.app_context():
                failed = self._failed(probe, kubelet=kubelet, waited=self._waited(context))
            metrics: Metrics = self.app.extensions["metrics"]
            result = "failure" if failed else "success"
            metrics.probe_requests.labels(probe, result, "kubelet" if kubelet else "other").inc()
            status = Status.NOT_SERVING if failed else Status.SERVING
        else:
            probe, failed, status = service, True, Status.SERVICE_UNKNOWN  # a misnamed service
        recent: RecentCalls = self.app.extensions["recent_probes"]
        recent.add(
            ProbeCall(
                probe=probe,
                kind="grpc",
                ok=not failed,
                answer=Status.ServingStatus.Name(status),
                kubelet=kubelet,
                user_agent=agent,
                peer=str(context.peer()),
                took_ms=(time.monotonic() - arrived) * 1000,
            )
        )
        return Status(status=status)

    def _waited(self, context: grpc.ServicerContext) -> float:
        """How long ago the caller started this call. The kubelet sets the deadline to its start
        plus timeoutSeconds before it even connects, so a connect or a queue that took most of
        the timeout shows here; without this the first failed answer could be dated up to a
        timeout late and the probe math's 'first failure to kill' measured short."""
        remaining: float | None = context.time_remaining()
        timeout = float(self.app.config["LIVENESS_TIMEOUT_SECONDS"])
        if remaining is None:
            return 0.0
        return min(max(timeout - remaining, 0.0), timeout)

    def _failed(self, probe: str, *, kubelet: bool, waited: float) -> bool:
        state: HealthState = self.app.extensions["health_state"]
        if probe == "liveness":
            decided = decide_liveness(kubelet=kubelet, waited=waited)
            if decided.delay > 0:
                time.sleep(decided.delay)
            return decided.failed
        verdict = state.check_readiness() if probe == "readiness" else state.check_startup()
        return not verdict.healthy


def serve(app: Flask, host: str, port: int) -> grpc.Server:
    """Start the health service in this process (gunicorn's worker: where the state lives)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="grpc"))
    health_pb2_grpc.add_HealthServicer_to_server(GrpcHealth(app), server)
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server
