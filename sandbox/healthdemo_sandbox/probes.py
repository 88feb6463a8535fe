"""One HTTP(S) request to a server's health endpoint: what the bring-up waits on."""

from __future__ import annotations

import json
import ssl
import urllib.request
from typing import Any


def _request(url: str, token: str | None) -> urllib.request.Request:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib.request.Request(url, headers=headers)


def status(
    url: str, context: ssl.SSLContext | None = None, *, token: str | None = None,
    timeout: float = 2,
) -> int:  # fmt: skip
    """The HTTP status of GET `url`; raises OSError (HTTPError too) when there is no answer."""
    with urllib.request.urlopen(_request(url, token), context=context, timeout=timeout) as resp:
        code: int = resp.status
        return code


def get_json(
    url: str, context: ssl.SSLContext | None = None, *, token: str | None = None,
    timeout: float = 5,
) -> Any:  # fmt: skip
    """GET `url` and decode its JSON body; raises OSError when there is no answer."""
    with urllib.request.urlopen(_request(url, token), context=context, timeout=timeout) as resp:
        return json.loads(resp.read())
