"""Polling with a deadline: servers come up and Pods go away in their own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(check: Callable[[], T], *, timeout: float, interval: float = 0.1) -> T:
    """Call `check` every `interval` s until it returns something truthy or `timeout` passes;
    returns that value, or the last (falsy) one, so the caller decides what a timeout means.

    `check` may raise to stop early (a process that died will never become ready)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
