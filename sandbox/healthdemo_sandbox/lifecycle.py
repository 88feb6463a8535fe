"""`start()`/`stop()` plus the `with` block, shared by the control plane, the node and the
sandbox, so each can be used by a fixture (start/stop) or a script (`with`) alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Lifecycle(ABC):
    """Something started once and stopped once; `stop()` must be safe after a failed start."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> object: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
