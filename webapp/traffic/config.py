"""The traffic client's settings, from the environment (the operator sets them on its Pod)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from webapp.traffic.send import Target

MAX_RATE = 20.0  # requests a second: a demo's traffic, never a load test
PORT = 8080
MAX_REQUESTS = 1_000_000
MAX_LINGER = 20.0  # seconds: within a Pod's default grace period of 30 s


@dataclass(frozen=True)
class Settings:
    target: Target
    rate: float
    timeout: float
    store: Path | None
    host: str
    port: int
    limit: int | None = None  # stop sending after this many requests (None: never)
    linger: float = 0.0  # stopped: serve the final count this long at most, until it is read


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if not low < value <= high:
        raise ValueError(f"{name} must be more than {low:g} and at most {high:g}, not {value:g}")
    return value


def from_environ(environ: Mapping[str, str] | None = None) -> Settings:
    """A bad value stops the client at start with the variable's name."""
    env = os.environ if environ is None else environ
    target = env.get("TRAFFIC_TARGET", "")
    if not target:
        raise ValueError("TRAFFIC_TARGET is required: the Service's URL, http://NAME:PORT")
    store = env.get("TRAFFIC_STATE", "")
    return Settings(
        target=Target.of(target),
        rate=_number(env, "TRAFFIC_RATE", 2.0, 0.0, MAX_RATE),
        timeout=_number(env, "TRAFFIC_TIMEOUT_SECONDS", 1.0, 0.0, 10.0),
        store=Path(store) if store else None,
        host=env.get("HOST", "0.0.0.0"),
        port=int(_number(env, "PORT", PORT, 0, 65535)),
        limit=int(_number(env, "TRAFFIC_REQUESTS", 0, -1, MAX_REQUESTS)) or None,
        linger=_number(env, "TRAFFIC_LINGER_SECONDS", 0.0, -1, MAX_LINGER),
    )
