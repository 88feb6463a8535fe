"""In-memory health state shared by the request threads of the one worker process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    """RFC 3339 UTC, the timestamp format Kubernetes uses."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LivenessVerdict:
    """What one /healthz check decided, computed under the lock, answered outside it."""

    healthy: bool
    reason: str  # "ok" | "start-failing" | "fail-next"
    since: float | None = None
    remaining: int = 0


class HealthState:
    """Liveness/readiness switches and counters; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self._started_mono = time.monotonic()
        self._failing_since: float | None = None
        self._fail_next = 0
        self._hang_seconds = 0.0
        self._ready = True
        self.liveness_checks = 0
        self.liveness_failures = 0
        self.readiness_checks = 0

    def uptime(self) -> float:
        return time.monotonic() - self._started_mono

    def start_failing(self) -> float:
        """Fail every liveness check from now on; a repeat keeps the original since-time."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = time.time()
            return self._failing_since

    def stop_failing(self) -> None:
        """Heal without a restart: clears start-failing, fail-next and hang."""
        with self._lock:
            self._failing_since = None
            self._fail_next = 0
            self._hang_seconds = 0.0

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

    def check_liveness(self) -> LivenessVerdict:
        """Count one liveness check and decide it (consumes one fail-next token if any)."""
        with self._lock:
            self.liveness_checks += 1
            if self._failing_since is not None:
                verdict = LivenessVerdict(False, "start-failing", since=self._failing_since)
            elif self._fail_next > 0:
                self._fail_next -= 1
                verdict = LivenessVerdict(False, "fail-next", remaining=self._fail_next)
            else:
                verdict = LivenessVerdict(True, "ok")
            if not verdict.healthy:
                self.liveness_failures += 1
            return verdict

    def check_readiness(self) -> bool:
        with self._lock:
            self.readiness_checks += 1
            return self._ready

    def snapshot(self) -> dict[str, object]:
        """The whole state as JSON-ready data for GET /."""
        with self._lock:
            return {
                "liveness": {
                    "healthy": self._healthy_locked(),
                    "failingSince": iso(self._failing_since),
                    "failNext": self._fail_next,
                    "hangSeconds": self._hang_seconds,
                },
                "readiness": {"ready": self._ready},
                "counters": {
                    "livenessChecks": self.liveness_checks,
                    "livenessFailures": self.liveness_failures,
                    "readinessChecks": self.readiness_checks,
                },
            }

    def _healthy_locked(self) -> bool:
        return self._failing_since is None and self._fail_next == 0

    def is_healthy(self) -> bool:
        """Liveness as a gauge sees it, without counting a check."""
        with self._lock:
            return self._healthy_locked()

    def is_ready(self) -> bool:
        with self._lock:
            return self._ready
