"""Ask the traffic client for its counts: GET /counts at its Pod's IP (the operator runs in the
cluster; no API permission is needed, and none is asked for). Blocking: run it in a thread."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from healthdemo_operator.traffic.pod import PORT, ClientView
from healthdemo_operator.traffic.tally import Reading

TIMEOUT_S = 2.0


def read(client: ClientView) -> Reading:
    if client.ip is None or not client.running:
        return Reading(client.uid, client.name, None, "the traffic client is not running yet")
    url = f"http://{client.ip}:{PORT}/counts"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            counts = json.loads(response.read())
    except (OSError, ValueError) as exc:
        return Reading(client.uid, client.name, None, f"GET {url}: {exc}")
    if not isinstance(counts, dict):
        return Reading(client.uid, client.name, None, f"GET {url}: not a JSON object")
    return Reading(client.uid, client.name, counts)
