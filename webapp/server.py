"""Serve the app with gunicorn: one worker process (the state is in memory), several threads.

Two things a plain `gunicorn webapp:app` would get wrong for this demo:
- SIGTERM: gunicorn waits `graceful_timeout` (30 s) for busy workers, so a container killed by its
  liveness probe with a /hang in flight would stall and end as exit 137. We allow 1 s.
- POST /crash and /oom: a dying worker is normally replaced by the master, so the container never
  exits. The worker records its exit code in shared memory first; the master sees it when it
  reaps the worker and halts with that code, so the kubelet sees a real crash (or OOM kill).

And one thing it would not know: the master counts this container in the Pod's journal before any
worker starts (a replaced worker is not a new container), and a worker writes "sigterm" into it
the moment the kill arrives, before draining (see `journal`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer
from gunicorn.workers.base import Worker

from webapp import config
from webapp.app import create_app
from webapp.faults import allocate_until_killed, exit_process
from webapp.journal import Journal
from webapp.recent import ProbeCall, RecentCalls
from webapp.state import HealthState
from webapp.tcp_check import TcpCheck

if TYPE_CHECKING:
    import grpc

GRACEFUL_TIMEOUT_S = 1
OOM_EXIT_CODE = 137  # 128 + SIGKILL, what a container killed by the kernel exits with
THREADS = 16  # probes that /hang hold a thread each; keep some for everything else


class WebappServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, host: str, port: int, threads: int = THREADS) -> None:
        self.host, self.port, self.threads = host, port, threads
        # Allocated before the fork, so the worker and the master share it.
        self.crash_code = multiprocessing.Value("i", 0, lock=False)
        super().__init__()

    def load_config(self) -> None:
        settings: Mapping[str, Any] = {
            "bind": f"{self.host}:{self.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": self.threads,
            "graceful_timeout": GRACEFUL_TIMEOUT_S,
            "timeout": 0,  # no worker heartbeat kill: /hang is meant to block request threads
            "keepalive": 2,
            "accesslog": "-",
            "control_socket_disable": True,  # no ~/.gunicorn socket in a read-only, non-root image
            "child_exit": self.on_child_exit,
            "post_worker_init": self.on_worker_ready,
        }
        for key, value in settings.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app({"CRASH": self.crash, "OOM": self.oom})

    def crash(self, code: int) -> None:
        self.crash_code.value = code
        exit_process(code)

    def oom(self, step_mib: int) -> None:
        """Where the kernel kills only the biggest process (cgroup v1), that is the worker: the
        master then halts too, so the container ends instead of growing a new worker."""
        self.crash_code.value = OOM_EXIT_CODE
        allocate_until_killed(step_mib)

    def on_worker_ready(self, worker: Worker) -> None:
        """In the worker, where the state lives: open the TCP check ports and gRPC health, and
        note a SIGTERM in the journal first (still starting or not), then let gunicorn drain."""
        app: Flask = worker.wsgi
        journal: Journal = app.extensions["journal"]
        state: HealthState = app.extensions["health_state"]
        self.checks = serve_checks(app, self.host)
        drain = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            journal.ended(
                "sigterm", starting=not state.is_started(), broken_since=state.failing_since()
            )
            if callable(drain):
                drain(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        after = float(app.config["CRASH_AFTER_SECONDS"])
        if after > 0:  # the crash-loop lesson: this container crashes on its own
            code = int(app.config["CRASH_EXIT_CODE"])

            def crash_on_schedule() -> None:
                journal.ended("crash", code)
                self.crash(code)

            timer = threading.Timer(after, crash_on_schedule)
            timer.daemon = True
            timer.start()

    def on_child_exit(self, server: Arbiter, worker: Worker) -> None:
        if self.crash_code.value:
            raise HaltServer("crash requested via POST /crash", self.crash_code.value)


@dataclass
class Checks:
    """The probe targets besides HTTP: kept referenced for the worker's lifetime."""

    tcp: list[TcpCheck]
    grpc: grpc.Server


def serve_checks(app: Flask, host: str) -> Checks:
    """In the worker only: gRPC must not start before the fork."""
    from webapp import grpc_health  # noqa: PLC0415  # see above

    state: HealthState = app.extensions["health_state"]
    recent: RecentCalls = app.extensions["recent_probes"]

    def accepted(probe: str, peer: str) -> None:
        """All a TCP check shows: a connection (no User-Agent); a refused one never arrives."""
        recent.add(ProbeCall(probe, "tcp", True, "accepted", None, "", peer))

    tcp = [
        TcpCheck(state, "liveness", host, app.config["TCP_LIVENESS_PORT"], accepted),
        TcpCheck(state, "readiness", host, app.config["TCP_READINESS_PORT"], accepted),
    ]
    return Checks(tcp, grpc_health.serve(app, host, app.config["GRPC_PORT"]))


def main() -> None:
    host = os.environ.get("HOST", "0.0.0.0")
    try:
        port = int(os.environ.get("PORT", config.DEFAULT_PORT))
    except ValueError:
        sys.exit(f"PORT={os.environ['PORT']!r} is not a port number")
    try:
        settings = {**config.DEFAULTS, **config.from_environ()}  # fail fast, in the master
    except ValueError as exc:
        sys.exit(f"webapp: {exc}")
    Journal(*config.journal_paths(settings)).begin_container()
    WebappServer(host, port).run()
