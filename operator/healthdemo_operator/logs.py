"""What the operator's log says: one line per thing a user cares about, with the HealthDemo's
name — a Pod created, replaced or resized, a restart recorded with its cause, counts no longer
exact and why — the same words as the Events it posts. Kopf's own lines (a "Handler ...
succeeded" for every watch event, each start-up activity, each probe of its health endpoint)
only with `kopf run --verbose` or `--debug`; its warnings and errors always.
"""

from __future__ import annotations

import logging

from healthdemo_operator.status.recording import Notice

# Kopf's loggers whose INFO lines retell, per event, what the story lines say once; and its
# health endpoint's access log (the kubelet's liveness probe of the operator, every 10 s).
KOPF_CHATTER = (
    "kopf.objects",
    "kopf.activities",
    "kopf._core.engines.activities",
    "aiohttp.access",
)


def quiet_kopf() -> None:
    """Called at start-up, after Kopf configured logging from its command line: at its default
    level (INFO), Kopf's per-handler lines are dropped; with --verbose/--debug (DEBUG) all stay."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    for name in KOPF_CHATTER:
        logging.getLogger(name).setLevel(logging.WARNING)


def story_line(namespace: str, name: str, notice: Notice) -> str:
    return f"{namespace}/{name}: {notice.reason}: {notice.message}"
