"""Per-step timings: every start reports where its seconds went (cold vs warm caches)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")


def timed(timings: dict[str, float], name: str, action: Callable[[], T]) -> T:
    """Run `action`, record its seconds as `timings[name]`, and return its result."""
    began = time.monotonic()
    result = action()
    timings[name] = time.monotonic() - began
    return result


def describe(timings: Mapping[str, float]) -> str:
    """`etcd 0.5s, kube-apiserver 3.1s, ...` for logs and the command line."""
    return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())
