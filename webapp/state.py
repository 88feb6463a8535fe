"""In-memory health state shared by the request threads of the one worker process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC, the timestamp format Kubernetes uses."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Verdict:
    """What one check decided, computed under the lock, answered outside it."""

    healthy: bool
    reason: str  # "ok" | "starting" | "start-failing" | "fail-next" | "disabled"
    since: float | None = None
    remaining: int = 0


Listener = Callable[[], None]


class HealthState:
    """Startup, liveness and readiness switches and counters; every method is thread-safe.

    Listeners hear every change that can flip a check (the TCP check ports open and close on
    it); the end of the startup delay is one, announced by a timer.
    """

    def __init__(self, startup_delay: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self._started_mono = time.monotonic()
        self.startup_delay = startup_delay
        self._failing_since: float | None = None
        self._fail_next = 0
        self._hang_seconds = 0.0
        self._ready = True
        self._ready_fail_next = 0
        self._listeners: list[Listener] = []
        self.liveness_checks = 0
        self.liveness_failures = 0
        self.readiness_checks = 0
        self.readiness_failures = 0
        self.startup_checks = 0
        if startup_delay > 0:
            timer = threading.Timer(startup_delay, self._changed)
            timer.daemon = True
            timer.start()

    def uptime(self) -> float:
        return time.monotonic() - self._started_mono

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def _changed(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def start_failing(self) -> float:
        """Fail every liveness check from now on; a repeat keeps the original since-time."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = time.time()
            since = self._failing_since
        self._changed()
        return since

    def stop_failing(self) -> None:
        """Heal without a restart: clears start-failing, fail-next and hang."""
        with self._lock:
            self._failing_since = None
            self._fail_next = 0
            self._hang_seconds = 0.0
        self._changed()

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail_next = count

    def hang(self, seconds: float) -> None:
        with self._lock:
            self._hang_seconds = seconds

    def hang_seconds(self) -> float:
        with self._lock:
            return self._hang_seconds

    def set_ready(self, ready: bool) -> None:
        with self._lock:
            self._ready = ready
            if ready:
                self._ready_fail_next = 0
        self._changed()

    def readiness_fail_next(self, count: int) -> None:
        with self._lock:
            self._ready_fail_next = count

    def _started_locked(self) -> bool:
        return time.monotonic() - self._started_mono >= self.startup_delay

    def failing_since(self) -> float | None:
        """When /start-failing broke liveness (None while it is not broken that way)."""
        with self._lock:
            return self._failing_since

    def is_started(self) -> bool:
        with self._lock:
            return self._started_locked()

    def check_startup(self) -> Verdict:
        """Count one startup check: it passes once the startup delay is over."""
        with self._lock:
            self.startup_checks += 1
            return Verdict(True, "ok") if self._started_locked() else Verdict(False, "starting")

    def check_liveness(self) -> Verdict:
        """Count one liveness check and decide it (consumes one fail-next token if any)."""
        with self._lock:
            self.liveness_checks += 1
            if not self._started_locked():
                verdict = Verdict(False, "starting")
            elif self._failing_since is not None:
                verdict = Verdict(False, "start-failing", since=self._failing_since)
            elif self._fail_next > 0:
                self._fail_next -= 1
                verdict = Verdict(False, "fail-next", remaining=self._fail_next)
            else:
                verdict = Verdict(True, "ok")
            if not verdict.healthy:
                self.liveness_failures += 1
            return verdict

    def check_readiness(self) -> Verdict:
        """Count one readiness check and decide it (consumes one fail-next token if any)."""
        with self._lock:
            self.readiness_checks += 1
            if not self._started_locked():
                verdict = Verdict(False, "starting")
            elif not self._ready:
                verdict = Verdict(False, "disabled")
            elif self._ready_fail_next > 0:
                self._ready_fail_next -= 1
                verdict = Verdict(False, "fail-next", remaining=self._ready_fail_next)
            else:
                verdict = Verdict(True, "ok")
            if not verdict.healthy:
                self.readiness_failures += 1
            return verdict

    def snapshot(self) -> dict[str, object]:
        """The whole state as JSON-ready data for GET /."""
        with self._lock:
            return {
                "startup": {
                    "started": self._started_locked(),
                    "delaySeconds": self.startup_delay,
                },
                "liveness": {
                    "healthy": self._healthy_locked(),
                    "failingSince": iso(self._failing_since),
                    "failNext": self._fail_next,
                    "hangSeconds": self._hang_seconds,
                },
                "readiness": {"ready": self._ready_locked(), "failNext": self._ready_fail_next},
                "counters": {
                    "startupChecks": self.startup_checks,
                    "livenessChecks": self.liveness_checks,
                    "livenessFailures": self.liveness_failures,
                    "readinessChecks": self.readiness_checks,
                    "readinessFailures": self.readiness_failures,
                },
            }

    def _healthy_locked(self) -> bool:
        return self._started_locked() and self._failing_since is None and self._fail_next == 0

    def _ready_locked(self) -> bool:
        return self._started_locked() and self._ready and self._ready_fail_next == 0

    def tcp_port_open(self, probe: str) -> bool:
        """Whether the TCP check port of "liveness" or "readiness" accepts connections. A
        connection carries no request, so fail-next (a count of answers) does not apply."""
        with self._lock:
            if not self._started_locked():
                return False
            return self._failing_since is None if probe == "liveness" else self._ready

    def is_healthy(self) -> bool:
        """Liveness as a gauge sees it, without counting a check."""
        with self._lock:
            return self._healthy_locked()

    def is_ready(self) -> bool:
        """Readiness as a gauge sees it, without counting a check."""
        with self._lock:
            return self._ready_locked()
