"""Endpoints that break the app on purpose, one probe lesson each (docs/webapp-api.md)."""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import Conflict, Forbidden, Unauthorized

from webapp.errors import float_arg, int_arg
from webapp.probes import health_state, journal
from webapp.state import iso

bp = Blueprint("faults", __name__)

CrashFn = Callable[[int], None]
OomFn = Callable[[int], None]


def exit_process(code: int) -> None:
    """Default /crash action: leave the process abruptly, after the response had time to go out."""
    threading.Timer(0.2, os._exit, args=(code,)).start()


def allocate_until_killed(step_mib: int) -> None:
    """Default /oom action: take memory, and touch it, until the kernel kills the container."""

    def allocate() -> None:
        hoard = []
        while True:
            hoard.append(bytearray(b"\x01") * (step_mib << 20))  # written: really resident

    threading.Timer(0.2, allocate).start()


def memory_limit(cgroup_root: Path) -> int | None:
    """This container's memory limit in bytes (cgroup v2, else v1); None when unlimited."""
    for path in (cgroup_root / "memory.max", cgroup_root / "memory" / "memory.limit_in_bytes"):
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 62:  # v1 says "unlimited" with a huge number
            return int(raw)
        return None
    return None


@bp.before_request
def guard() -> None:
    """Shared clusters can switch the faults off (WEBAPP_FAULTS=disabled) or demand a token."""
    mode = current_app.config["FAULTS"]
    if mode == "disabled":
        raise Forbidden("fault endpoints are disabled on this instance (WEBAPP_FAULTS=disabled)")
    if mode == "token":
        given = request.headers.get("X-Fault-Token", "")
        if not hmac.compare_digest(given.encode(), current_app.config["FAULTS_TOKEN"].encode()):
            raise Unauthorized(
                "fault endpoints need the header X-Fault-Token (WEBAPP_FAULTS=token)"
            )


@bp.route("/start-failing", methods=["GET", "POST"])
def start_failing() -> Response:
    """Liveness fails until a restart (or /stop-failing): the seed demo's switch. GET works too,
    because the seed's users open it in a browser."""
    since = health_state().start_failing()
    return jsonify(liveness="failing", since=iso(since))


@bp.route("/stop-failing", methods=["GET", "POST"])
def stop_failing() -> Response:
    """Heal without a restart: shows that failures below failureThreshold are forgiven."""
    health_state().stop_failing()
    return jsonify(liveness="ok")


@bp.post("/readyz/disable")
def readyz_disable() -> Response:
    health_state().set_ready(False)
    return jsonify(readiness="disabled")


@bp.post("/readyz/enable")
def readyz_enable() -> Response:
    health_state().set_ready(True)
    return jsonify(readiness="enabled")


@bp.post("/readyz/fail-next")
def readyz_fail_next() -> Response:
    """The next N readiness checks fail: below failureThreshold the Pod stays ready."""
    count = int_arg("count", low=0, high=current_app.config["MAX_FAIL_NEXT"])
    health_state().readiness_fail_next(count)
    return jsonify(readinessFailNext=count)


@bp.post("/fail-next")
def fail_next() -> Response:
    """The next N liveness checks fail, then it heals: N < failureThreshold means no restart."""
    count = int_arg("count", low=0, high=current_app.config["MAX_FAIL_NEXT"])
    health_state().fail_next(count)
    return jsonify(failNext=count)


@bp.post("/hang")
def hang() -> Response:
    """Each liveness check answers only after S seconds: S >= timeoutSeconds is a failure."""
    seconds = float_arg("seconds", low=0, high=current_app.config["MAX_HANG_SECONDS"])
    health_state().hang(seconds)
    return jsonify(hangSeconds=seconds)


@bp.post("/crash")
def crash() -> tuple[Response, int]:
    """Exit with a code (`?code=N`, default WEBAPP_CRASH_EXIT_CODE): a crash the kubelet reports
    as Error, not a liveness kill; a chosen code is what a container's restart rules match."""
    code = (
        int_arg("code", low=0, high=255)
        if request.values.get("code")
        else current_app.config["CRASH_EXIT_CODE"]
    )
    crash_fn: CrashFn = current_app.config.get("CRASH") or exit_process
    journal().ended("crash", code)  # before exiting: the operator learns it was a crash
    crash_fn(code)
    return jsonify(crashing=True, exitCode=code), 202


@bp.post("/oom")
def oom() -> tuple[Response, int]:
    """Allocate memory until the container's memory limit kills it: exit reason OOMKilled."""
    limit = memory_limit(Path(current_app.config["CGROUP_ROOT"]))
    if limit is None:
        raise Conflict(
            "this container has no memory limit: /oom would take the node's memory; set "
            "spec.resources.limits.memory"
        )
    journal().ended("oom")  # before: the kernel's kill leaves no time for a word
    oom_fn: OomFn = current_app.config.get("OOM") or allocate_until_killed
    oom_fn(current_app.config["OOM_STEP_MIB"])
    return jsonify(allocating=True, limitBytes=limit), 202
