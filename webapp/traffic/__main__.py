"""`python -m webapp.traffic`: send the traffic and serve its counts until SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from webapp.traffic import config
from webapp.traffic.client import Traffic
from webapp.traffic.serve import server


def main() -> None:
    try:
        settings = config.from_environ()
    except ValueError as exc:
        sys.exit(f"traffic: {exc}")
    traffic = Traffic(
        settings.target, settings.rate, settings.timeout, store=settings.store, limit=settings.limit
    )
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    http = server(traffic, settings.host, settings.port)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print(f"traffic: {settings.rate:g}/s to {settings.target}, counts on :{settings.port}/counts",
          flush=True)  # fmt: skip
    traffic.run(stop)
    # Stopped: its final count is served until someone reads it (the operator), or for at most
    # TRAFFIC_LINGER_SECONDS (within the Pod's grace period), so the last requests are counted.
    if settings.linger > 0 and not traffic.taken.wait(settings.linger):
        print(f"traffic: the final count was not read within {settings.linger:g} s", flush=True)
    http.shutdown()


main()
