"""The webapp's journal, as it reaches us in `lastState.terminated.message`: how each container
of the Pod ended. Pure parsing; the webapp's `webapp/journal.py` writes it (a test keeps the two
in step).

The Pod status is never rate-limited, unlike the kubelet's Events, and the journal lives in an
emptyDir that outlives container restarts: so the last termination message tells every restart
of the Pod, also those that happened while the operator was not running. A container that is
not our webapp writes no journal: then `parse` gives None and the Events are all there is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from healthdemo_operator.timestamps import parse_time

PREFIX = "healthdemo-journal/v1 "


@dataclass(frozen=True)
class ContainerEnd:
    """How container number `container` (0 for the Pod's first) ended, in its own words."""

    container: int
    cause: str  # "sigterm" (the kubelet killed it) | "crash" | "oom" | "gone" (without a word)
    at: datetime | None
    exit_code: int | None
    streak: int  # failed liveness answers in a row just before the end
    failing_since: datetime | None
    starting: bool = False  # it had not finished starting (the startup probe's kill)


@dataclass(frozen=True)
class Journal:
    containers: int  # containers started in this Pod so far
    ends: Mapping[int, ContainerEnd]
    oldest: int  # the oldest container the (trimmed) journal still tells about


def _end(raw: Mapping[str, Any]) -> ContainerEnd:
    code = raw.get("code")
    return ContainerEnd(
        container=int(raw["c"]),
        cause=str(raw["cause"]),
        at=parse_time(raw.get("at")),
        exit_code=int(code) if code is not None else None,
        streak=int(raw.get("streak") or 0),
        failing_since=parse_time(raw.get("since")),
        starting=bool(raw.get("starting")),
    )


def parse(message: str | None) -> Journal | None:
    """The journal in a termination message; None if the container wrote none (or garbage).
    The kubelet puts the runtime's own message first where it has one ("<runtime's>: <ours>"),
    so the journal is looked for anywhere in it."""
    start = message.find(PREFIX) if message else -1
    if message is None or start < 0:
        return None
    try:
        raw = json.loads(message[start + len(PREFIX) :])
        ends = {end.container: end for end in map(_end, raw.get("exits") or [])}
        containers = int(raw["containers"])
    except (ValueError, KeyError, TypeError):
        return None
    return Journal(containers=containers, ends=ends, oldest=min(ends, default=containers))
