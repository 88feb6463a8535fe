"""A fault-injecting HTTP proxy between the operator and the real kube-apiserver.

The operator talks HTTPS to the proxy (a serving certificate from the cluster CA, so its
kubeconfig names the cluster CA, which it also verifies kubelets with); the proxy forwards over
HTTPS with the operator's own bearer token, so the API server still authenticates and authorizes
the operator exactly. Rules
make matching requests fail (500, 409, 429 + Retry-After), end watches with an in-stream 410 Gone,
cut watch streams mid-flight or leave them open and silent, forward a request and then lose its
answer (the write landed, the client saw the connection die), or forward it late (slow, or past
the client's timeout: it lands after the client gave up). It runs on its own event loop in a
thread of the test process.
"""

from __future__ import annotations

import asyncio
import random
import re
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import ClientResponse, ClientSession, ClientTimeout, TCPConnector, web
from healthdemo_sandbox import tls
from healthdemo_sandbox.controlplane.certs import CertificateAuthority


@dataclass
class Rule:
    """Fail requests whose method and path?query match, `times` times (None: until removed)."""

    method: str  # "GET", "PATCH", ... or "*"
    path: str  # a regular expression, searched in "path?query"
    status: int = 500  # 500, 409, 429 ...; 410 with watch=True ends the watch in-stream
    times: int | None = None
    retry_after: int | None = None  # seconds, for 429
    cut_after: float | None = None  # for watches: forward for this long, then drop the connection
    lose_response: bool = False  # forward, then drop the connection instead of answering
    delay: float = 0.0  # forward this late (the client may have given up by then)
    silence: bool = False  # for watches: forward nothing more, and keep the connection open
    chance: float = 1.0  # inject into this share of the matching requests (the proxy's seed)
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.method in ("*", method) and re.search(self.path, target) is not None


@dataclass
class Log:
    requests: int = 0
    injected: dict[int | str, int] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)


EXPIRED_EVENT = (
    b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",'
    b'"message":"too old resource version (injected)","reason":"Expired","code":410}}\n'
)


def _is_watch(request: web.Request) -> bool:
    return request.query.get("watch") in ("true", "1")


class FaultProxy:
    def __init__(self, upstream: str, ca: CertificateAuthority, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca = ca
        self.seed, self.random = seed, random.Random(seed)
        self.rules: list[Rule] = []
        self.log = Log()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    # -- control, from the test thread ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @contextmanager
    def fault(self, rule: Rule) -> Iterator[Rule]:
        """Inject while the block runs."""
        with self._lock:
            self.rules.append(rule)
        try:
            yield rule
        finally:
            with self._lock:
                self.rules.remove(rule)

    def open_watches(self) -> int:
        return len(self._watches)

    def cut_all_watches(self) -> int:
        """Drop every open watch connection now (as a dying load balancer would)."""
        future = asyncio.run_coroutine_threadsafe(self._cut_watches(), self._loop)
        return future.result(timeout=10)

    # -- the proxy, on its own loop ------------------------------------------------------------

    async def _serve(self) -> None:
        context = tls.trusting(self.ca.cert_pem)
        self._session = ClientSession(
            connector=TCPConnector(ssl=context, limit=0),
            timeout=ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )
        self._watches: set[asyncio.BaseTransport] = set()  # open watch connections
        self._closing = asyncio.Event()  # set when the proxy stops: silent streams end
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        pair = self.ca.issue("fault-proxy", ip_addresses=["127.0.0.1"], server=True)
        cert, key = pair.write(Path(tempfile.mkdtemp(prefix="fault-proxy-")), "serving")
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serving.load_cert_chain(cert, key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=serving)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        self._closing.set()
        await self._cut_watches()
        await self._runner.cleanup()
        await self._session.close()

    async def _cut_watches(self) -> int:
        cut = 0
        for transport in list(self._watches):
            if isinstance(transport, asyncio.Transport) and not transport.is_closing():
                transport.abort()
                cut += 1
        self._watches.clear()
        return cut

    def _match(self, request: web.Request) -> Rule | None:
        target = request.path_qs
        with self._lock:
            self.log.requests += 1
            self.log.paths.append(f"{request.method} {target}")
            for rule in self.rules:
                if rule.matches(request.method, target) and (
                    rule.chance >= 1 or self.random.random() < rule.chance
                ):
                    rule.hits += 1
                    key: int | str = (
                        "cut" if rule.cut_after is not None
                        else "lost" if rule.lose_response
                        else "late" if rule.delay
                        else "silenced" if rule.silence
                        else rule.status
                    )  # fmt: skip
                    self.log.injected[key] = self.log.injected.get(key, 0) + 1
                    return rule
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rule = self._match(request)
        if rule is None:
            return await self._forward(request, None)
        if rule.delay:
            await asyncio.sleep(rule.delay)
        if rule.lose_response or rule.silence:
            return await self._forward_then_lose(request, rule)
        if (
            rule.cut_after is None
            and not rule.delay
            and not (rule.status == 410 and _is_watch(request))
        ):
            return _injected(rule)
        return await self._forward(request, rule)

    async def _forward(self, request: web.Request, rule: Rule | None) -> web.StreamResponse:
        async with await self._upstream(request) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "content-encoding",
                ):
                    response.headers[name] = value
            if rule is not None and rule.status == 410 and _is_watch(request):
                # What the API server sends when the resourceVersion is too old: an ERROR event.
                await response.prepare(request)
                await response.write(EXPIRED_EVENT)
                return response

            await response.prepare(request)
            watching = _is_watch(request)
            transport = request.transport
            if watching and transport is not None:
                self._watches.add(transport)
            cutter = None
            if rule is not None and rule.cut_after is not None and request.transport is not None:
                cutter = asyncio.get_running_loop().call_later(
                    rule.cut_after, request.transport.abort
                )
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (ConnectionResetError, asyncio.CancelledError):
                pass
            finally:
                if cutter is not None:
                    cutter.cancel()
                if transport is not None:
                    self._watches.discard(transport)
            return response

    async def _upstream(self, request: web.Request) -> ClientResponse:
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding", "connection")
        }
        body = await request.read()
        return await self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body or None,
            skip_auto_headers=("Content-Type",),  # forward exactly what the client sent
        )

    async def _forward_then_lose(self, request: web.Request, rule: Rule) -> web.StreamResponse:
        """The request reaches the API server; its answer never reaches the client. A lost
        answer drops the connection; a silenced watch keeps it open, saying nothing, as a
        stream whose far end died without a word does."""
        async with await self._upstream(request) as upstream:
            if rule.silence:
                response = web.StreamResponse(status=upstream.status)
                await response.prepare(request)
                if request.transport is not None:
                    self._watches.add(request.transport)
                try:
                    async for _ in upstream.content.iter_any():
                        pass  # read, and thrown away
                    await self._closing.wait()  # the client must notice on its own
                finally:
                    if request.transport is not None:
                        self._watches.discard(request.transport)
                return response
            await upstream.read()
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=502)  # never sent: the connection is gone


def _injected(rule: Rule) -> web.Response:
    """The API server's error answer, made up here: nothing reaches the server."""
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after else {}
    return web.json_response(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": f"injected {rule.status} by the fault proxy",
            "reason": {500: "InternalError", 409: "Conflict", 429: "TooManyRequests"}.get(
                rule.status, "Injected"
            ),
            "code": rule.status,
        },
        status=rule.status,
        headers=headers,
    )
