"""A loop on a thread of its own for as long as a `with` block runs (chaos, a status trail)."""

from __future__ import annotations

import threading
from typing import Self


class Background:
    """Subclasses define `step()`, run every `interval()` seconds until the block ends."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def interval(self) -> float:
        return 0.5

    def step(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.interval()):
            self.step()
