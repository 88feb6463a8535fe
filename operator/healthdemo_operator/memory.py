"""Give the allocator's free memory back to the system after a burst.

A burst — the listings after a restart, or a thousand HealthDemos created together — leaves
the C allocator holding freed memory it keeps for later: the process's RSS stays at the peak.
glibc's `malloc_trim` returns what it can (bench/operator_bench.py measures RSS after both);
elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

BURST = 100  # reconciles since the last trim that make a burst worth trimming after
# After the queue drains: Kopf's per-object workers (HealthDemos) keep their last bodies until
# they have idled for `settings.queueing.idle_timeout` (1 s, handlers.configure), then exit.
AFTER_BURST_S = 3.0


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    return trim


_TRIM = _malloc_trim()


def give_back() -> bool:
    """True if the allocator returned memory to the system."""
    return bool(_TRIM(0)) if _TRIM is not None else False
