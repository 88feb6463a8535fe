"""The traffic loop: a request every 1/rate seconds whatever the answers take (an open loop, so
an outage costs the requests a user would have sent during it), each on a thread of a bounded
pool; the tally saved to a file once a second and when stopped."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from webapp.traffic.send import Target, send
from webapp.traffic.tally import Kind, Tally

Sender = Callable[[Target, float], tuple[Kind, "str | None"]]
SAVE_EVERY_S = 1.0


class Traffic:
    def __init__(
        self,
        target: Target,
        rate: float,
        timeout: float,
        *,
        store: Path | None = None,
        sender: Sender = send,
        limit: int | None = None,
    ) -> None:
        self.target, self.rate, self.timeout, self.store = target, rate, timeout, store
        self.sender, self.limit = sender, limit
        self._lock = threading.Lock()
        self.tally = self._load() or Tally(started=time.time())
        # Enough threads for every request that may still be waiting for its timeout.
        self._pool = ThreadPoolExecutor(max_workers=math.ceil(rate * timeout) + 2)
        self._submitted = self.tally.sent  # a restart goes on counting towards `limit`
        # Stopped: nothing more will be sent or counted (GET /counts says so: `final`), and
        # `taken` once a reader has had that final count.
        self.final = False
        self.taken = threading.Event()

    def _load(self) -> Tally | None:
        """The tally a previous run of this container saved (its emptyDir outlives it)."""
        if self.store is None or not self.store.exists():
            return None
        try:
            tally = Tally.of(json.loads(self.store.read_text()))
        except (ValueError, KeyError, TypeError):
            return None  # a torn or foreign file: start over rather than crash-loop
        tally.starts += 1
        return tally

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self.tally.to_json(), "target": f"{self.target.host}:{self.target.port}"
                    f"{self.target.path}", "rate": self.rate, "limit": self.limit,
                    "final": self.final}  # fmt: skip

    def save(self) -> None:
        if self.store is None:
            return
        data = json.dumps(self.snapshot())
        partial = self.store.with_suffix(".partial")
        partial.write_text(data)
        os.replace(partial, self.store)  # atomic: a kill never leaves half a file

    def _one(self, at: float) -> None:
        kind, pod = self.sender(self.target, self.timeout)
        with self._lock:
            self.tally.record(kind, pod, at)

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set: send on schedule, save once a second, and save at the end."""
        period = 1.0 / self.rate
        next_send = next_save = time.monotonic()
        if self.limit is not None and self._submitted >= self.limit:
            next_send = math.inf
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_send:
                    self._pool.submit(self._one, time.time())
                    self._submitted += 1
                    next_send += period
                    if next_send < now:  # fell behind (a stalled host): do not burst
                        next_send = now + period
                    if self.limit is not None and self._submitted >= self.limit:
                        next_send = math.inf  # the sample is sent: only save from now on
                if now >= next_save:
                    self.save()
                    next_save = now + SAVE_EVERY_S
                stop.wait(max(0.0, min(next_send, next_save) - time.monotonic()))
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            with self._lock:
                self.final = True
            self.save()
