"""A cache of one resource kept by listing it once and then watching from that list's version:
client-go's informer, small. The controller trusts what it holds once `synced` is set.

- The list is read in pages (memory stays one page high) and turned into views as it arrives;
  raw bodies are never kept.
- The watch resumes from the last version seen (bookmarks keep it fresh on a quiet stream); when
  the server has compacted that version away (410 Gone) the resource is listed again and the
  cache replaced, telling the controller what appeared, changed or vanished meanwhile.
- Each object is keyed by UID; `parse` turns a body into the view kept (or None: not kept), and
  `on_change(before, after)` is told every difference (`after` None: deleted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from healthdemo_operator.apisession import ApiError, ApiSession
from healthdemo_operator.kube import one_line

logger = logging.getLogger(__name__)

V = TypeVar("V")
PAGE = 100
# The server ends each watch after WATCH_SECONDS (it is started again at once, from the last
# version seen: no list) and sends a bookmark 2 s before; so a stream silent for IDLE_SECONDS is
# dead, whatever the connection says: its far end may have gone without a word (a proxy or a
# load balancer that lost the server keeps the connection open). Connections that die below
# HTTP are found sooner by TCP keepalive (apisession.py).
WATCH_SECONDS = 30
IDLE_SECONDS = WATCH_SECONDS + 5
RETRY_SECONDS = (0.5, 1, 2, 5, 10)
LIST_SECONDS = 60


class Expired(Exception):
    """The version a watch would resume from is gone (410): list again."""


@dataclass(frozen=True)
class Source:
    """What to list and watch: a collection path and its server-side selectors."""

    name: str  # for logs
    path: str  # e.g. /api/v1/pods
    selectors: Mapping[str, str]  # labelSelector / fieldSelector


class Informer(Generic[V]):
    def __init__(
        self,
        source: Source,
        session: ApiSession,
        *,
        parse: Callable[[Mapping[str, Any]], V | None],
        on_change: Callable[[V | None, V | None], None],
    ) -> None:
        self.source, self._session = source, session
        self._parse, self._on_change = parse, on_change
        self.items: dict[str, V] = {}
        self.synced = asyncio.Event()
        self.lists = 0  # how often it listed (1 unless a watch expired)
        self._version = ""

    def __iter__(self) -> Iterator[V]:
        return iter(self.items.values())

    async def run(self) -> None:
        """List, then watch, until cancelled; errors are retried with a back-off."""
        failures = 0
        while True:
            try:
                if not self._version:
                    await self._list()
                    self.synced.set()
                await self._watch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Expired:
                self._version = ""  # list again at once
            except Exception as exc:  # the API server or the network: try again, never give up
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                logger.warning("%s: %s; again in %s s", self.source.name, one_line(exc), delay)
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        fresh: dict[str, V] = {}
        params = {**self.source.selectors, "limit": str(PAGE)}
        version = ""
        while True:
            page = await self._session.get(self.source.path, params, timeout=LIST_SECONDS)
            for body in page.get("items") or ():
                view = self._parse(body)
                if view is not None:
                    fresh[body["metadata"]["uid"]] = view
            meta = page.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            if not meta.get("continue"):
                break
            params["continue"] = meta["continue"]
        self.lists += 1
        before, self.items = self.items, fresh
        for uid in before.keys() | fresh.keys():
            if before.get(uid) != fresh.get(uid):
                self._on_change(before.get(uid), fresh.get(uid))
        self._version = version

    async def _watch(self) -> None:
        params = {
            **self.source.selectors,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": self._version,
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        try:
            async for event in self._session.stream(self.source.path, params, IDLE_SECONDS):
                self._apply(event)
        except ApiError as exc:
            if exc.status == 410:
                raise Expired from exc
            raise

    def _apply(self, event: Mapping[str, Any]) -> None:
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if body.get("code") == 410:
                raise Expired
            raise ApiError(int(body.get("code") or 500), str(body.get("message") or body))
        meta = body.get("metadata") or {}
        self._version = str(meta.get("resourceVersion") or self._version)
        if kind == "BOOKMARK":
            return
        uid = meta.get("uid", "")
        before = self.items.get(uid)
        after = None if kind == "DELETED" else self._parse(body)
        if after is None:
            self.items.pop(uid, None)
        else:
            self.items[uid] = after
        if before != after:
            self._on_change(before, after)
