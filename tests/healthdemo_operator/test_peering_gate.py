"""The peering gate hears Kopf pause and resume this operator: from Kopf's own log records."""

from __future__ import annotations

import inspect
import logging

from healthdemo_operator.peering_gate import PAUSED, PEERING_LOGGER, RESUMED, PeeringGate
from kopf._core.engines import peering


def test_the_messages_it_listens_for_are_the_ones_this_kopf_logs() -> None:
    """A Kopf that words them otherwise fails here, not silently in a cluster."""
    assert peering.__name__ == PEERING_LOGGER
    source = inspect.getsource(peering)
    for start in (*PAUSED, *RESUMED):
        assert f'f"{start}' in source, start  # the start of a logged f-string


def test_pause_and_resume_follow_the_log_even_when_it_is_quiet() -> None:
    calls: list[str] = []
    gate = PeeringGate(pause=lambda: calls.append("pause"), resume=lambda: calls.append("resume"))
    logger = logging.getLogger(PEERING_LOGGER)
    before = logger.level
    logging.getLogger("kopf").setLevel(logging.WARNING)
    gate.install()
    try:
        logger.info("Pausing operations in favour of [Peer(identity='b', priority=9)].")
        logger.info("Keep-alive for peering ...")
        logger.info("Resuming operations after the pause. Conflicting operators ... are gone.")
        logger.warning("Pausing all operators, including self: [...]")
    finally:
        gate.remove()
        logger.setLevel(before)
        logging.getLogger("kopf").setLevel(logging.NOTSET)
    assert calls == ["pause", "resume", "pause"]
