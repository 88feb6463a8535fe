"""A coalescing, per-key work queue (controller-runtime's workqueue, in asyncio).

- A key waits in the queue at most once: a burst of Pod and Event updates for one HealthDemo
  becomes one reconcile, and so one status PATCH.
- A key is handed to one worker at a time: the single writer of that HealthDemo's status.
- A key added while it is being processed is processed again afterwards — after the delay it
  was added with, counted from then: a reconcile that asks to be looked at again in 5 s must not
  come back at once (that would be a hot loop that never yields the event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, coalesce_seconds: float = 0.05) -> None:
        self.coalesce_seconds = coalesce_seconds
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._waiting: set[K] = set()  # queued or scheduled, not yet handed out
        self._active: set[K] = set()
        self._again: dict[K, float] = {}  # added while active: the shortest delay asked
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def add(self, key: K, delay: float | None = None) -> None:
        """Queue `key` after `delay` seconds (default: the coalescing window)."""
        wait = self.coalesce_seconds if delay is None else delay
        if key in self._active:
            self._again[key] = min(wait, self._again.get(key, wait))
            return
        timer = self._timers.get(key)
        if key in self._waiting and timer is None:
            return  # already in the ready queue
        if timer is not None:
            if timer.when() <= asyncio.get_running_loop().time() + wait:
                return  # due sooner anyway
            timer.cancel()
        self._waiting.add(key)
        if wait <= 0:
            self._timers.pop(key, None)
            self._ready.put_nowait(key)
        else:
            self._timers[key] = asyncio.get_running_loop().call_later(wait, self._due, key)

    def _due(self, key: K) -> None:
        self._timers.pop(key, None)
        self._ready.put_nowait(key)

    async def get(self) -> K:
        key = await self._ready.get()
        self._waiting.discard(key)
        self._active.add(key)
        return key

    def done(self, key: K) -> None:
        self._active.discard(key)
        if key in self._again:
            self.add(key, delay=self._again.pop(key))

    def forget(self, key: K) -> None:
        """Drop a scheduled retry/recheck (the object is gone)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
            self._waiting.discard(key)
        self._again.pop(key, None)

    def __len__(self) -> int:
        return len(self._waiting) + len(self._again)
