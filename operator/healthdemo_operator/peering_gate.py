"""Whether Kopf has paused this operator in favour of another replica (peering), for the parts of
the controller Kopf does not drive: its informers and the kubelet poller would otherwise keep a
paused replica reconciling beside the active one.

Kopf pauses by closing its own watch streams and says so only in its peering log ("Pausing
operations in favour of ...", "Resuming operations after the pause ..."): there is no API for it
(kopf 1.45). So the gate listens to that logger; the messages are checked by a test against the
Kopf this project pins, and a replica that is never paused (no peering, or alone) never hears
them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

PEERING_LOGGER = "kopf._core.engines.peering"
PAUSED = ("Pausing operations in favour of", "Pausing all operators, including self")
RESUMED = ("Resuming operations after the pause",)


class PeeringGate(logging.Handler):
    def __init__(self, *, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        super().__init__(logging.INFO)
        self._pause, self._resume = pause, resume

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(PAUSED):
            self._pause()
        elif message.startswith(RESUMED):
            self._resume()

    def install(self) -> None:
        peering = logging.getLogger(PEERING_LOGGER)
        if peering.getEffectiveLevel() > logging.INFO:
            peering.setLevel(logging.INFO)  # the gate must hear it even when the log is quiet
        peering.addHandler(self)

    def remove(self) -> None:
        logging.getLogger(PEERING_LOGGER).removeHandler(self)
