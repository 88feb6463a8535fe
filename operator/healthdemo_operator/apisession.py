"""The API server over aiohttp, with the official client's credentials: for the list and watch
streams of the controller's caches (`informer.py`), which must not cost a thread each.

The credentials are the ones `kopf.login_via_client` configured for the official client, read
again for every request (an in-cluster token is rotated on disk), so the caches, Kopf and the
controller's own calls always speak as one identity; and the same User-Agent as `kube.Kube`, so
the audit log shows one program.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from kubernetes import client

from healthdemo_operator import __version__, names

CONNECT_SECONDS = 10
# A watch is silent most of the time; the kernel probes it after this many idle seconds, then
# every KEEPALIVE_INTERVAL, and gives up after KEEPALIVE_PROBES unanswered probes (or at once on
# a reset: the server had forgotten the connection), so a dead connection ends within 11 s.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES = 5, 2, 3


def keep_alive(sock: socket.socket | None) -> None:
    """TCP keepalive on one connection (Linux names; elsewhere only SO_KEEPALIVE)."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
    ):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


class ApiError(Exception):
    """The API server answered with an error status; `status` is its HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class ApiSession:
    """`configuration` None: the official client's default, as the latest login left it."""

    def __init__(self, configuration: client.Configuration | None = None) -> None:
        self._given = configuration
        self._session: aiohttp.ClientSession | None = None

    @property
    def _config(self) -> client.Configuration:
        return self._given or client.Configuration.get_default()

    def _ssl(self) -> ssl.SSLContext | bool:
        config = self._config
        if not config.verify_ssl:
            return False
        context = ssl.create_default_context(cafile=config.ssl_ca_cert)
        if config.cert_file:
            context.load_cert_chain(config.cert_file, config.key_file)
        return context

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": f"{names.COMPONENT}/{__version__}"}
        for auth in self._config.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        return headers

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                base_url=self._config.host.rstrip("/") + "/",
                connector=aiohttp.TCPConnector(ssl=self._ssl(), limit=0),
                read_bufsize=2**20,  # a watch line is one whole object: a Pod can be 64 kB
            )
        return self._session

    async def get(self, path: str, params: Mapping[str, str], timeout: float) -> dict[str, Any]:
        """One GET (a list page); raises ApiError unless 200."""
        async with self._client().get(
            path.lstrip("/"),
            params=params,
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(total=timeout, connect=CONNECT_SECONDS),
        ) as response:
            text = await response.text()
            if response.status != 200:
                raise ApiError(response.status, _message(text))
            result: dict[str, Any] = json.loads(text)
            return result

    async def stream(
        self, path: str, params: Mapping[str, str], idle_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The lines of a watch, as JSON objects, until the server ends it; a stream silent for
        `idle_timeout` seconds is given up (a dead connection does not always say so), and the
        connection is kept alive at the TCP level, so that one whose far end is gone ends."""
        async with self._client().get(
            path.lstrip("/"),
            params=params,
            headers=self._headers(),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=CONNECT_SECONDS, sock_read=idle_timeout
            ),
        ) as response:
            if response.status != 200:
                raise ApiError(response.status, _message(await response.text()))
            if response.connection is not None and response.connection.transport is not None:
                keep_alive(response.connection.transport.get_extra_info("socket"))
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _message(text: str) -> str:
    try:
        return str(json.loads(text).get("message") or text)
    except (ValueError, AttributeError):
        return text[:200]
