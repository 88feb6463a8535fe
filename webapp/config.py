"""Configuration read from the environment (12-factor), with defaults that suit a demo Pod."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# HTTP, unless $PORT says otherwise (read by the server and the exec check alike).
DEFAULT_PORT = 5000

DEFAULTS: dict[str, Any] = {
    # Shown by GET / so a user can tell which app answered.
    "APP_NAME": "flask-webapp",
    # "enabled" (the demo), "token" (fault endpoints need X-Fault-Token), "disabled" (403).
    "FAULTS": "enabled",
    "FAULTS_TOKEN": "",
    # Upper bounds keep a typo from hanging or failing the app for days.
    "MAX_HANG_SECONDS": 3600.0,
    "MAX_FAIL_NEXT": 10000,
    # Exit code of POST /crash: non-zero so the kubelet reports a crash ("Error"), not a probe kill.
    "CRASH_EXIT_CODE": 1,
    # The crash-loop lesson: every container crashes (CRASH_EXIT_CODE) this long after it
    # starts; 0: never.
    "CRASH_AFTER_SECONDS": 0.0,
    # The Pod's journal (how each container ended) lives here: an emptyDir, which outlives
    # container restarts. Empty: this container's story only (outside Kubernetes, say).
    "JOURNAL_DIR": "",
    # Where the kubelet looks for the termination message (terminationMessagePath).
    "TERMINATION_LOG": "/dev/termination-log",
    # The liveness probe's timeoutSeconds: a /hang at least this long is a failed check for the
    # kubelet even though the app answers 200 in the end.
    "LIVENESS_TIMEOUT_SECONDS": 1.0,
    # The slow-starter lesson: every check answers "starting" (and the TCP check ports stay
    # closed) for this long after the container starts.
    "STARTUP_DELAY_SECONDS": 0.0,
    # Besides HTTP on $PORT: TCP ports that accept connections only while live / ready, and the
    # standard gRPC health service (the operator's podspec.py names the same ports).
    "TCP_LIVENESS_PORT": 5001,
    "TCP_READINESS_PORT": 5002,
    "GRPC_PORT": 5003,
    # POST /oom allocates this much at a time until the container's memory limit kills it.
    "OOM_STEP_MIB": 16,
    # Where the container's memory limit is read (/oom refuses without one).
    "CGROUP_ROOT": "/sys/fs/cgroup",
    # How many of the last probe calls GET /probes/recent (and the page) show.
    "RECENT_PROBES": 50,
}

# Environment variable -> (config key, parser).
_ENV: dict[str, tuple[str, Any]] = {
    "WEBAPP_NAME": ("APP_NAME", str),
    "WEBAPP_FAULTS": ("FAULTS", str),
    "WEBAPP_FAULTS_TOKEN": ("FAULTS_TOKEN", str),
    "WEBAPP_MAX_HANG_SECONDS": ("MAX_HANG_SECONDS", float),
    "WEBAPP_MAX_FAIL_NEXT": ("MAX_FAIL_NEXT", int),
    "WEBAPP_CRASH_EXIT_CODE": ("CRASH_EXIT_CODE", int),
    "WEBAPP_CRASH_AFTER_SECONDS": ("CRASH_AFTER_SECONDS", float),
    "WEBAPP_JOURNAL_DIR": ("JOURNAL_DIR", str),
    "WEBAPP_TERMINATION_LOG": ("TERMINATION_LOG", str),
    "WEBAPP_LIVENESS_TIMEOUT_SECONDS": ("LIVENESS_TIMEOUT_SECONDS", float),
    "WEBAPP_STARTUP_DELAY_SECONDS": ("STARTUP_DELAY_SECONDS", float),
    "WEBAPP_TCP_LIVENESS_PORT": ("TCP_LIVENESS_PORT", int),
    "WEBAPP_TCP_READINESS_PORT": ("TCP_READINESS_PORT", int),
    "WEBAPP_GRPC_PORT": ("GRPC_PORT", int),
    "WEBAPP_RECENT_PROBES": ("RECENT_PROBES", int),
}

FAULT_MODES = ("enabled", "token", "disabled")


def from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Config values set in the environment; a bad value fails start-up with the variable's name."""
    env = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for var, (key, parse) in _ENV.items():
        if var in env:
            try:
                found[key] = parse(env[var])
            except ValueError as exc:
                raise ValueError(f"{var}={env[var]!r} is not a valid {parse.__name__}") from exc
    mode = found.get("FAULTS", DEFAULTS["FAULTS"])
    if mode not in FAULT_MODES:
        raise ValueError(f"WEBAPP_FAULTS={mode!r}: expected one of {', '.join(FAULT_MODES)}")
    if mode == "token" and not found.get("FAULTS_TOKEN"):
        raise ValueError("WEBAPP_FAULTS=token needs WEBAPP_FAULTS_TOKEN to be set")
    if found.get("RECENT_PROBES", 0) < 0:
        raise ValueError("WEBAPP_RECENT_PROBES must be 0 (keep none) or more")
    return found


def journal_paths(settings: Mapping[str, Any]) -> tuple[Path | None, Path | None]:
    """The journal's directory and the termination log, from the config (None: not used)."""
    directory = settings.get("JOURNAL_DIR") or ""
    log = settings.get("TERMINATION_LOG") or ""
    return (Path(directory) if directory else None, Path(log) if log else None)
