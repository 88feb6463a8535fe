"""`watch`: the timeline, live, until Ctrl-C.

Three watches feed one queue — the HealthDemo, the operator's Events about it, the kubelet's
Events about its Pod — each in a thread of its own (the client's streams block), each resuming
from its last resourceVersion when the server ends it, and listing again after 410 Gone. The main
thread rebuilds the timeline after each burst: on a terminal it redraws it in place (rich's Live);
into a pipe it appends each new row once, with a summary line whenever the numbers change.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from kubectl_healthdemo import commands, render, timeline
from kubectl_healthdemo.api import PLURAL, Api, Need
from kubectl_healthdemo.errors import PluginError

HEADER_LINES = 12  # what the header and table frame take of a terminal's height


@dataclass
class State:
    """What is known so far: the HealthDemo and the Events by UID."""

    healthdemo: dict[str, Any]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: bool = False

    def timeline(self) -> timeline.Timeline:
        return timeline.build(self.healthdemo, self.events.values())


# What a watch thread hands the main thread: a change to apply, or why it stopped.
Change = Callable[[State], None]
Update = Change | PluginError


def _set_healthdemo(obj: dict[str, Any], kind: str) -> Change:
    def apply(state: State) -> None:
        state.deleted = kind == "DELETED"
        if not state.deleted:
            state.healthdemo = obj

    return apply


def _set_event(obj: dict[str, Any], kind: str) -> Change:
    def apply(state: State) -> None:
        uid = str((obj.get("metadata") or {}).get("uid"))
        if kind != "DELETED":  # an expired Event still happened: keep it
            state.events[uid] = obj

    return apply


def _replace_events(items: list[dict[str, Any]]) -> Change:
    def apply(state: State) -> None:
        for obj in items:
            _set_event(obj, "ADDED")(state)

    return apply


class Stream(threading.Thread):
    """One watch, resumed for as long as the process lives; its changes go to `updates`."""

    def __init__(
        self,
        updates: queue.Queue[Update],
        watch: Callable[[str], Iterator[dict[str, Any]]],
        relist: Callable[[], tuple[Change, str]],
        change: Callable[[dict[str, Any], str], Change],
        version: str,
    ) -> None:
        super().__init__(daemon=True)
        self.updates, self._watch, self._relist, self._change = updates, watch, relist, change
        self.version = version

    def run(self) -> None:
        try:
            while True:
                for item in self._watch(self.version):
                    kind, obj = item.get("type", ""), item.get("object") or {}
                    if kind == "ERROR":  # 410 Gone: too old to resume from
                        change, self.version = self._relist()
                        self.updates.put(change)
                        break
                    self.version = (obj.get("metadata") or {}).get(
                        "resourceVersion"
                    ) or self.version
                    if kind != "BOOKMARK":
                        self.updates.put(self._change(obj, kind))
        except PluginError as exc:
            self.updates.put(exc)
        except Exception as exc:  # any surprise ends the watch, with its words
            self.updates.put(PluginError(f"the watch stopped: {exc!r}"))


def _healthdemo_stream(api: Api, updates: queue.Queue[Update], state: State) -> Stream:
    name = state.healthdemo["metadata"]["name"]
    selector = {"fieldSelector": f"metadata.name={name}"}

    def watch(version: str) -> Iterator[dict[str, Any]]:
        return api.watch(api.healthdemo_path(), Need("watch", PLURAL), selector, version)

    def relist() -> tuple[Change, str]:
        found = commands.load_healthdemo(api, name)
        return _set_healthdemo(found, "MODIFIED"), found["metadata"]["resourceVersion"]

    version = str(state.healthdemo["metadata"].get("resourceVersion") or "")
    return Stream(updates, watch, relist, _set_healthdemo, version)


def _events_stream(
    api: Api, updates: queue.Queue[Update], state: State, kind: str, about: str
) -> Stream:
    """The Events about one object: listed now (into `state`), then watched."""
    items, version = api.events(kind, about)
    _replace_events(items)(state)
    selector = {"fieldSelector": api.about(kind, about)}

    def watch(version: str) -> Iterator[dict[str, Any]]:
        return api.watch(api.events_path(), Need("watch", "events"), selector, version)

    def relist() -> tuple[Change, str]:
        found, version = api.events(kind, about)
        return _replace_events(found), version

    return Stream(updates, watch, relist, _set_event, version)


def start_streams(api: Api, state: State, updates: queue.Queue[Update]) -> list[Stream]:
    """The three watches, started; the Events listed first, so the first frame has them."""
    name = state.healthdemo["metadata"]["name"]
    streams = [
        _healthdemo_stream(api, updates, state),
        _events_stream(api, updates, state, "HealthDemo", name),
        _events_stream(api, updates, state, "Pod", commands.pod_name(state.healthdemo)),
    ]
    for stream in streams:
        stream.start()
    return streams


def _drain(updates: queue.Queue[Update], state: State, wait: float) -> bool:
    """Apply every update there is, waiting up to `wait` s for the first; whether there was
    one. A PluginError (a watch that cannot go on) raises."""
    try:
        update = updates.get(timeout=wait)
    except queue.Empty:
        return False
    while True:
        if isinstance(update, PluginError):
            raise update
        update(state)
        try:
            update = updates.get_nowait()
        except queue.Empty:
            return True


class Appender:
    """Into a pipe: each row once (a row that gains a measurement is printed again), and the
    summary whenever it changes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.printed: set[tuple[Any, ...]] = set()
        self.summary: tuple[Any, ...] | None = None

    def show(self, story: timeline.Timeline, deleted: bool = False) -> None:
        s = story.summary
        numbers = (s.phase, s.ready, s.restarts, s.probe_failures, s.exact, deleted)
        if numbers != self.summary:
            self.summary = numbers
            line = render.summary_line(s)
            if deleted:
                line.append(" (the HealthDemo was deleted)", "yellow")
            self.console.print(line, soft_wrap=True)
        previous = None
        for row in story.rows:
            key = (row.at, row.kind, row.what, row.source, row.measured, row.expected)
            if key not in self.printed:
                self.printed.add(key)
                self.console.print(render.row_line(row, previous), soft_wrap=True)
            previous = row


def watch(api: Api, name: str, console: Console) -> None:
    """Until Ctrl-C (KeyboardInterrupt, handled by the caller) or a PluginError."""
    state = State(commands.load_healthdemo(api, name))
    updates: queue.Queue[Update] = queue.Queue()
    start_streams(api, state, updates)
    if not console.is_terminal:
        appender = Appender(console)
        appender.show(state.timeline())
        while True:
            if _drain(updates, state, wait=1.0):
                appender.show(state.timeline(), state.deleted)

    def frame() -> RenderableType:
        story = state.timeline()
        limit = max(console.height - HEADER_LINES - len(story.summary.math), 3)
        note = " · the HealthDemo was deleted" if state.deleted else ""
        footer = Text(f"watching (Ctrl-C stops){note}", "dim")
        return Group(render.render(story, limit=limit), Text(""), footer)

    with Live(frame(), console=console, auto_refresh=False) as live:
        while True:
            if _drain(updates, state, wait=1.0):
                live.update(frame(), refresh=True)
