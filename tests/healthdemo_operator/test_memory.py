"""The allocator gives a burst's freed memory back (glibc), measured on this very process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from healthdemo_operator import memory


def rss_kib() -> int:
    found = re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text())
    assert found is not None
    return int(found.group(1))


@pytest.mark.skipif(memory._TRIM is None, reason="not glibc: nothing to give back")
def test_freed_memory_of_a_burst_is_given_back() -> None:
    burst = [bytes(4096) + bytes([n % 256]) for n in range(20_000)]  # ~80 MiB, C allocator
    kept = burst[::1000]  # a few survivors, as after a real burst
    del burst
    before = rss_kib()
    assert memory.give_back()
    assert before - rss_kib() > 40 * 1024, "at least half of the freed 80 MiB went back"
    assert len(kept) == 20
