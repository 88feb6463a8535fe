"""A tiny W3C WebDriver client over HTTP (urllib + json): enough to drive chromedriver in a test.

The standard protocol is a handful of JSON calls; a client library (selenium) would be a large
dependency for the few we use. Elements are looked up by CSS selector at every call, so a page
that re-renders between two calls never hands back a stale element.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


class WebDriverError(Exception):
    """The driver's own error ("no such element", "session not created", ...) and message."""


def call(url: str, method: str = "GET", body: object = None, timeout: float = 60) -> Any:
    """One WebDriver command; its `value`, or WebDriverError with the driver's message."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["value"]
    except urllib.error.HTTPError as failed:
        value = json.loads(failed.read() or b"{}").get("value", {})
        raise WebDriverError(f"{value.get('error')}: {value.get('message')}") from None


class Browser:
    """One browser session on a WebDriver server (chromedriver) at `driver`."""

    def __init__(self, driver: str, capabilities: dict[str, Any]) -> None:
        created = call(f"{driver}/session", "POST", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = f"{driver}/session/{created['sessionId']}"

    def _do(self, method: str, path: str, body: object = None) -> Any:
        return call(self.session + path, method, body)

    def get(self, url: str) -> None:
        self._do("POST", "/url", {"url": url})

    def _element(self, css: str) -> str:
        found = self._do("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def text(self, css: str) -> str:
        """The rendered text of the first element matching `css` (hidden text is "")."""
        return str(self._do("GET", f"/element/{self._element(css)}/text"))

    def texts(self, css: str) -> list[str]:
        """The rendered text of every element matching `css`, read in one go in the page (one
        by one, a re-render in between would make the later ones stale)."""
        script = "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText);"
        return [
            str(t) for t in self._do("POST", "/execute/sync", {"script": script, "args": [css]})
        ]

    def prop(self, css: str, name: str) -> Any:
        """A DOM property (`disabled`, `value`, `dataset`...), as the page's script sees it."""
        return self._do("GET", f"/element/{self._element(css)}/property/{name}")

    def click(self, css: str) -> None:
        self._do("POST", f"/element/{self._element(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        element = self._element(css)
        self._do("POST", f"/element/{element}/clear", {})
        self._do("POST", f"/element/{element}/value", {"text": text})

    def screenshot(self) -> bytes:
        """The viewport as PNG."""
        return base64.b64decode(self._do("GET", "/screenshot"))

    def quit(self) -> None:
        self._do("DELETE", "")
