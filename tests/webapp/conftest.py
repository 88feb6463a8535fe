"""A real `python -m webapp` process on a free loopback port, and a plain HTTP client for it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from healthdemo_sandbox import waiting
from healthdemo_sandbox.ports import free_ports

from ..conftest import WebappClient


@dataclass
class Served(WebappClient):
    proc: subprocess.Popen[bytes]
    url: str
    ports: dict[str, int]  # the config key of each side port (TCP checks, gRPC) -> its number


SIDE_PORTS = ("TCP_LIVENESS_PORT", "TCP_READINESS_PORT", "GRPC_PORT")


def serve(env: dict[str, str] | None = None) -> Served:
    # Distinct: the main port and each side port are bound by the same process.
    port, *side = free_ports(1 + len(SIDE_PORTS))
    ports = dict(zip(SIDE_PORTS, side, strict=True))
    environ = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **{f"WEBAPP_{key}": str(number) for key, number in ports.items()},
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    served = Served(proc, f"http://127.0.0.1:{port}", ports)

    def answering() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"webapp exited at start: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            served.call("/healthz", timeout=1)
        except OSError:
            return False
        return True

    if waiting.poll(answering, timeout=15, interval=0.05):
        return served
    proc.kill()
    raise RuntimeError("webapp did not answer /healthz within 15 s")


def stop(app: Served) -> None:
    if app.proc.poll() is None:
        app.proc.kill()
    app.proc.wait(timeout=10)


@pytest.fixture
def served() -> Iterator[Served]:
    app = serve()
    yield app
    stop(app)


@pytest.fixture
def served_with() -> Iterator[Callable[[dict[str, str]], Served]]:
    """`served_with({"WEBAPP_FAULTS": "disabled"})`: an app with that environment, stopped after
    the test like `served`."""
    apps: list[Served] = []

    def start(env: dict[str, str]) -> Served:
        apps.append(serve(env))
        return apps[-1]

    yield start
    for app in apps:
        stop(app)
