"""How each container of this Pod ended, told through a channel the kubelet never rate-limits.

The kubelet stops posting Events about a Pod after about 25 of them, so after a few restarts the
`Killing` Event that says "failed liveness probe" is gone. What it always reports is the Pod
status, including `lastState.terminated.message`: the container's termination message, read
from `/dev/termination-log` when the container ends. That shows the *last* container only, so the
journal itself lives in an `emptyDir` volume, which outlives container restarts (not the Pod):
every container appends how it ended, and the termination message carries the journal's tail.
When several restarts happen while nobody watches, the last message still tells each of them.

The file is kept current at every change, not only at exit, so even a container that is killed
without warning (OOM) leaves its record; the next container notes "ended without a word" for a
container that never wrote its end.

Format (the operator parses it; a test keeps the two in step): the prefix `healthdemo-journal/v1 `
and one JSON object `{"containers": <started in this Pod>, "livenessFailures": <failed liveness
answers to the kubelet in this Pod>, "exits": [{"c": <container index>, "cause": "sigterm" |
"crash" | "oom" | "gone", "at": <RFC 3339>, "code": <exit code, crash only>, "starting": <true
when it had not finished starting>, "streak": <failed liveness answers in a row before the end>,
"since": <first of them; without any, when /start-failing closed the TCP check port>},
...oldest first]}`, trimmed to the kubelet's 4096 bytes by dropping the oldest exits.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from webapp.state import iso

PREFIX = "healthdemo-journal/v1 "
MAX_MESSAGE_BYTES = 4096  # the kubelet reads at most this much of a termination message
STATE_FILE = "journal.json"
CAUSES = ("sigterm", "crash", "oom", "gone")


class Journal:
    """The Pod's journal; thread-safe. Without a directory it covers this container only."""

    def __init__(self, directory: Path | None, termination_log: Path | None) -> None:
        self.directory = directory
        self.termination_log = termination_log
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"containers": 0, "livenessFailures": 0, "exits": []}
        self._streak = 0
        self._since: float | None = None
        self._ended = False
        self._load()

    @property
    def container(self) -> int:
        """This container's index in the Pod: 0 for the first, then the kubelet's restartCount."""
        return max(int(self._state["containers"]) - 1, 0)

    def begin_container(self) -> int:
        """Called once per container start (in gunicorn's master, before any worker)."""
        with self._lock:
            self._load()
            started = int(self._state["containers"])
            exits: list[dict[str, Any]] = self._state["exits"]
            ended = {e["c"] for e in exits}
            if started > 0 and started - 1 not in ended:
                exits.append({"c": started - 1, "cause": "gone", "at": None})
            self._state["containers"] = started + 1
            self._save()
            return started

    def liveness_answer(self, *, failed: bool, at: float) -> None:
        """One answer to the kubelet's liveness probe (kube-probe/*): the streak before a kill."""
        with self._lock:
            if not failed:
                self._streak, self._since = 0, None
                return
            if self._streak == 0:
                self._since = at
            self._streak += 1
            self._state["livenessFailures"] = int(self._state["livenessFailures"]) + 1
            self._save()

    def ended(
        self,
        cause: str,
        code: int | None = None,
        *,
        starting: bool = False,
        broken_since: float | None = None,
    ) -> None:
        """How this container is about to end; the first call wins (a crash then SIGTERM...).
        `starting`: it had not finished starting, so a kill came from the startup probe (if the
        Pod has one) or from a liveness probe too impatient for a slow starter.
        `broken_since`: when liveness was broken on purpose. A tcpSocket probe's failures are
        refused connections the app never sees, so without failed answers that moment stands
        in for the first failure (the kubelet's next probe, at most a period later, is it)."""
        if cause not in CAUSES:
            raise ValueError(f"unknown cause {cause!r}")
        with self._lock:
            if self._ended:
                return
            self._ended = True
            entry: dict[str, Any] = {"c": self.container, "cause": cause, "at": iso(time.time())}
            if code is not None:
                entry["code"] = code
            if starting:
                entry["starting"] = True
            if self._streak:
                entry["streak"] = self._streak
                entry["since"] = iso(self._since)
            elif broken_since is not None and cause == "sigterm":
                entry["since"] = iso(broken_since)
            self._state["exits"].append(entry)
            self._save()

    def snapshot(self) -> dict[str, Any]:
        """For GET /: the Pod-wide numbers, so a user sees they survive restarts."""
        with self._lock:
            return {
                "container": self.container,
                "livenessFailures": int(self._state["livenessFailures"]),
                "exits": len(self._state["exits"]),
                "persistent": self.directory is not None,
            }

    def message(self) -> str:
        """The termination message: the journal, newest exits kept when it must be trimmed."""
        state = dict(self._state)
        exits = list(state["exits"])
        while True:
            text = PREFIX + json.dumps({**state, "exits": exits}, separators=(",", ":"))
            if len(text.encode()) <= MAX_MESSAGE_BYTES or not exits:
                return text
            exits.pop(0)

    # -- files -----------------------------------------------------------------------------

    def _load(self) -> None:
        if self.directory is None:
            return
        try:
            loaded = json.loads((self.directory / STATE_FILE).read_text())
        except FileNotFoundError:
            return
        except ValueError:
            return  # torn by a kill mid-write: start over rather than crash-loop
        if isinstance(loaded, dict):
            self._state.update(loaded)

    def _save(self) -> None:
        if self.directory is not None:
            path = self.directory / STATE_FILE
            scratch = path.with_suffix(f".{os.getpid()}.tmp")
            scratch.write_text(json.dumps(self._state, separators=(",", ":")))
            os.replace(scratch, path)  # atomic: a kill never leaves half a journal
        # The kubelet creates this file in a container; elsewhere there is nothing to write to.
        if self.termination_log is not None and self.termination_log.exists():
            self.termination_log.write_text(self.message())
