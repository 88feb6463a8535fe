"""The last probe calls the app answered, kept in a bounded ring buffer for the page to show.

Counters say how many checks failed; they cannot say who asked, when, or through which door
(HTTP, the exec check, gRPC, a bare TCP connection). This keeps the newest few calls with that
detail, so a user sees the kubelet at work. Bounded, so a chatty prober costs no memory over time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

from webapp.state import iso

MAX_AGENT = 200  # a User-Agent is what the caller sent: keep enough to name it, bound the rest


@dataclass(frozen=True)
class ProbeCall:
    """One answered check, as far as the app can see it."""

    probe: str  # "liveness" | "readiness" | "startup"
    kind: str  # how it reached the app: "http" | "exec" | "grpc" | "tcp"
    ok: bool  # as the asker sees it (a late 200 after /hang is a failure)
    answer: str  # what was answered: "200", "500 start-failing", "NOT_SERVING", "accepted"
    # The kubelet's prober names itself (kube-probe/<version>); None when nothing says (TCP).
    kubelet: bool | None
    user_agent: str  # "" when the call carries none (a TCP connection)
    peer: str  # the caller's address
    took_ms: float = 0.0
    at: float = field(default_factory=time.time)


class RecentCalls:
    """The newest `capacity` probe calls; thread-safe (gunicorn's request threads, gRPC's pool
    and the TCP accept threads all add to it)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._calls: deque[tuple[int, ProbeCall]] = deque(maxlen=capacity)
        self._recorded = 0

    def add(self, call: ProbeCall) -> None:
        if len(call.user_agent) > MAX_AGENT:
            call = replace(call, user_agent=call.user_agent[:MAX_AGENT] + "…")
        with self._lock:
            self._recorded += 1
            self._calls.append((self._recorded, call))

    def snapshot(self) -> dict[str, object]:
        """JSON-ready, newest first; `seq` numbers every call ever recorded, so a poller can
        tell new calls from ones it has shown (and how many fell out of the buffer)."""
        with self._lock:
            calls = list(self._calls)
            recorded = self._recorded
        return {
            "capacity": self.capacity,
            "recorded": recorded,
            "calls": [
                {
                    "seq": seq,
                    "at": iso(call.at),
                    "probe": call.probe,
                    "kind": call.kind,
                    "ok": call.ok,
                    "answer": call.answer,
                    "kubelet": call.kubelet,
                    "userAgent": call.user_agent,
                    "peer": call.peer,
                    "tookMs": round(call.took_ms, 1),
                }
                for seq, call in reversed(calls)
            ],
        }
