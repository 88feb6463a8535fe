"""One request, on a connection of its own, and what became of it."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from webapp import __version__
from webapp.traffic.tally import Kind
from webapp.work import TRAFFIC_AGENT

AGENT = f"{TRAFFIC_AGENT}{__version__}"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> Target:
        """`http://host[:port][/path]`; the path defaults to /work."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the traffic target must be an http:// URL, not {url!r}")
        return cls(parts.hostname, parts.port or 80, parts.path or "/work")


def send(target: Target, timeout: float) -> tuple[Kind, str | None]:
    """GET the target once on a new connection (the Service chooses a Pod for each one): the
    kind of answer, and the Pod that answered when one did."""
    connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        connection.request("GET", target.path, headers={"User-Agent": AGENT, "Connection": "close"})
        response = connection.getresponse()
        body = response.read()
    except TimeoutError:
        return "timeout", None
    except ConnectionRefusedError:
        return "refused", None
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        return "reset", None
    except (OSError, http.client.HTTPException):
        return "other", None  # no route, a name that does not resolve, a garbled answer
    finally:
        connection.close()
    pod = _pod(body)
    if 200 <= response.status < 300:
        return "ok", pod
    if response.status >= 500:
        return "5xx", pod
    return "other", pod


def _pod(body: bytes) -> str | None:
    try:
        pod = json.loads(body).get("pod")
    except (ValueError, AttributeError):
        return None
    return pod if isinstance(pod, str) else None
