"""Our images, built once per session with podman; containers that are always removed.

Needs root and the packages of `sandbox/setup-host.sh`; otherwise the tests skip with the reason,
or fail where HEALTHDEMO_REQUIRE_NODE=1 (CI on a node machine).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from healthdemo_sandbox import images, waiting
from healthdemo_sandbox.ports import free_port

from ..conftest import REQUIRE_NODE, WebappClient, unavailable


@pytest.fixture(scope="session")
def built_images() -> list[images.Step]:
    """Base, pause and webapp images (seconds when the cache is warm; about 100 s cold)."""
    try:
        images.check_host()
        steps = images.build_all()
    except images.HostNotReady as exc:
        unavailable(f"no image builds: {exc}", REQUIRE_NODE)
    print(f"\nimages built ({images.describe_steps(steps)})", file=sys.stderr)
    return steps


def inspect(ref: str, kind: str = "container") -> dict[str, Any]:
    """`podman <kind> inspect` as a dict."""
    result: list[dict[str, Any]] = json.loads(images.podman(kind, "inspect", ref).stdout)
    return result[0]


@contextmanager
def container(image: str, *run_args: str) -> Iterator[str]:
    """`podman run -d` a container; yields its name; removes it however the block ends."""
    name = f"healthdemo-test-{uuid.uuid4().hex[:8]}"
    try:
        images.podman("run", "--detach", f"--name={name}", *run_args, image, timeout=60)
        yield name
    finally:
        images.podman("rm", "--force", "--time=0", name, check=False, timeout=60)


@dataclass
class WebappContainer(WebappClient):
    name: str
    url: str
    started: float  # time.monotonic() when `podman run` returned

    def exec(self, *argv: str) -> str:
        return images.podman("exec", self.name, *argv, timeout=30).stdout.strip()

    def healthcheck(self) -> int:
        """`podman healthcheck run`: the image's HEALTHCHECK, once (no systemd runs it here)."""
        return images.podman("healthcheck", "run", self.name, check=False, timeout=30).returncode

    def host_pid(self) -> int:
        pid: int = inspect(self.name)["State"]["Pid"]
        return pid


def wait_healthy(app: WebappContainer, timeout: float = 20) -> None:
    def healthy() -> bool:
        try:
            return bool(app.call("/healthz", timeout=1)[0] == 200)
        except OSError:
            return False

    if waiting.poll(healthy, timeout=timeout, interval=0.05):
        return
    logs = images.podman("logs", app.name, check=False).stdout
    raise AssertionError(f"{app.name} did not answer /healthz within {timeout} s:\n{logs}")


@pytest.fixture(scope="module")
def webapp(built_images: Sequence[images.Step]) -> Iterator[WebappContainer]:
    """The webapp image under podman, published on a free loopback port."""
    port = free_port()
    with container(
        images.APP_IMAGES["Dockerfile.webapp"][0], f"--publish=127.0.0.1:{port}:5000"
    ) as name:
        app = WebappContainer(name, f"http://127.0.0.1:{port}", time.monotonic())
        wait_healthy(app)
        print(f"\nwebapp answered in {time.monotonic() - app.started:.2f} s", file=sys.stderr)
        yield app
