"""A HealthDemo's story as rows in time order: what the status recorded and what the Events say.
Pure: `build(healthdemo, events)` is all `timeline` and `watch` draw, and what the tests check.

Three witnesses, each with its strength:
- `status.history` (the operator's record, one item per restart): exact and lasting, with the
  measured seconds next to the probe math's expected ones, but no probe-by-probe detail;
- the kubelet's Events about the Pod: its own words, but it posts at most about 25 per Pod
  (docs/exactness.md), and Events expire after an hour;
- the operator's Events about the HealthDemo: when it noticed and what it concluded.

The same moment told by two witnesses (the kubelet's Killing Event and the history item of that
kill) becomes one row: the measured and expected seconds of the one, the words of the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

# In story order: rows at the same second sort this way.
Kind = Literal[
    "created",
    "scheduled",
    "started",
    "failure",
    "forgiven",
    "kill",
    "backoff",
    "restarted",
    "recorded",
    "not-ready",
    "ready",
    "warning",
    "info",
]
ORDER = {kind: index for index, kind in enumerate(get_args(Kind))}
# Where a row comes from; rows merge only across origins, never two of one origin.
Origin = Literal["history", "event", "condition", "object"]
# Timestamps of Events have whole seconds, the journal's are exact: one moment may differ this much.
SLACK = timedelta(seconds=3)
TIMES = "\N{MULTIPLICATION SIGN}"  # a repeat count: "failed", TIMES, "3"
# The kubelet's Events that add nothing to the story: each Started has its Pulled and Created;
# a node without cluster DNS says so at every Pod sync.
QUIET_REASONS = frozenset({"Pulled", "Pulling", "Created", "MissingClusterDNS", "DNSConfigForming"})
# Who tells it, in the fewest words.
SOURCES = {"healthdemo-operator": "operator", "default-scheduler": "scheduler"}
# The operator's Events about the HealthDemo: (kind, what, topic).
OPERATOR_WORDS: dict[str, tuple[Kind, str, str]] = {
    "Restarted": ("recorded", "restart recorded", ""),
    "LivenessProbeFailing": ("failure", "phase Failing", ""),
    "LivenessFailuresForgiven": ("forgiven", "failures forgiven", "liveness"),
    "ReplacingPod": ("info", "Pod replaced", ""),
    "ResizingPod": ("info", "Pod resized in place", ""),
    "CrashLoopBackOff": ("backoff", "crash loop back-off", ""),
}


@dataclass(frozen=True)
class Row:
    """One moment of the story."""

    at: datetime
    kind: Kind
    what: str
    detail: str = ""
    source: str = "status"  # who tells it: kubelet, operator, scheduler, status, ...
    measured: float | None = None  # seconds, as the status recorded them
    expected: float | None = None  # seconds, by the probe math (status.expected)
    topic: str = ""  # liveness, readiness, startup: rows merge only within one topic
    origin: Origin = "history"


@dataclass(frozen=True)
class Summary:
    """The header: where the HealthDemo stands, and the probe math it is measured against."""

    name: str
    namespace: str
    pod: str | None
    phase: str | None
    ready: bool | None
    restarts: int
    reasons: Mapping[str, int]
    probe_failures: int
    readiness_failures: int
    startup_failures: int
    exact: bool | None  # CountsComplete
    exact_detail: str
    math: tuple[str, ...]
    out_of_service: str | None


@dataclass(frozen=True)
class Timeline:
    summary: Summary
    rows: tuple[Row, ...]


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 with whole or fractional seconds (Event eventTime is a MicroTime); None if not."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds(value: float) -> str:
    return f"{value:g} s"


# -- the status ---------------------------------------------------------------------------------


def history_rows(item: Mapping[str, Any]) -> list[Row]:
    """A history item (one restart): its first failure, its end, and its recovery."""
    ended = parse_time(item.get("time"))
    since = parse_time(item.get("failingSince"))
    reason = str(item.get("reason") or "Unknown")
    number = item.get("restart")
    restart = f"restart {number}" if number else "a restart"
    # A sidecar's restart (history items name any container but the webapp) says whose it is.
    who = f"{item['container']} " if item.get("container") else ""
    restart = who + restart
    rows: list[Row] = []
    if since is not None and reason == "LivenessProbe":
        rows.append(
            Row(since, "failure", f"{who}liveness failing", "first failed answer", topic="liveness")
        )
    what, detail, topic = {
        "LivenessProbe": (
            "killed: liveness probe",
            f"{item.get('probeFailures') or 'failureThreshold'} failures in a row; "
            "measured from the first one",
            "liveness",
        ),
        "StartupProbe": (
            "killed: startup probe",
            "still starting when its budget ran out; measured from the start",
            "startup",
        ),
        "RestartRule": (
            "restarted by its rule",
            str(item.get("detail") or f"exit code {item.get('exitCode')} matched a rule"),
            "restart-rule",
        ),
        "RestartAllContainers": (
            "restarted with every container",
            str(item.get("detail") or "a RestartAllContainers rule matched an exit"),
            "restart-all",
        ),
        "Resize": ("restarted for a resize", "resizePolicy RestartContainer", "resize"),
        "Crash": ("crashed", f"exit code {item.get('exitCode')}", "crash"),
        "OOMKilled": ("OOM-killed", "it reached its memory limit", "oom"),
        "Exited": ("exited", "exit code 0, on its own", "exit"),
    }.get(reason, ("ended, cause unknown", str(item.get("detail") or ""), "unknown"))
    what = who + what
    if ended is not None:
        rows.append(
            Row(
                ended,
                "kill",
                what,
                f"{detail} → {restart}",
                measured=_number(item.get("measuredSeconds")),
                expected=_number(item.get("expectedSeconds")),
                topic=topic,
            )
        )
    waited, schedule = (
        _number(item.get("backOffSeconds")),
        _number(item.get("expectedBackOffSeconds")),
    )
    if ended is not None and waited is not None and schedule:  # a back-off, not the first restart
        rows.append(
            Row(
                ended + timedelta(seconds=waited),
                "backoff",
                "restarted after back-off",
                f"CrashLoopBackOff: waited {_seconds(waited)}, the node's schedule says "
                f"{_seconds(schedule)} ({restart})",
                measured=waited,
                expected=schedule,
                topic="backoff",
            )
        )
    recovery = _number(item.get("recoverySeconds"))
    began = since or ended
    if recovery is not None and began is not None:
        after = "the first failure" if since is not None else "the end"
        rows.append(
            Row(
                began + timedelta(seconds=recovery),
                "ready",
                "ready again",
                f"{_seconds(recovery)} after {after} ({restart}){_lost(item)}",
                measured=recovery,
            )
        )
    return rows


def _lost(item: Mapping[str, Any]) -> str:
    """With spec.traffic: what the episode cost the traffic client."""
    lost = item.get("requestsLost")
    return "" if lost is None else f"; requests lost meanwhile: {lost}"


def episode_rows(episode: Mapping[str, Any]) -> list[Row]:
    """A traffic episode (status.traffic.episodes): a spell out of service with no restart in
    it, or a Pod deletion until its successor was ready, with the requests it cost."""
    start, end = parse_time(episode.get("start")), parse_time(episode.get("end"))
    pod = episode.get("pod") or "?"
    if start is None:
        return []
    deleted = episode.get("kind") == "PodDeleted"
    rows = [
        Row(
            start,
            "info" if deleted else "not-ready",
            "Pod deleted" if deleted else "out of service",
            f"{pod} (replica {episode.get('replica', 0)})",
            topic="traffic",
        )
    ]
    if end is not None:
        seconds = _number(episode.get("seconds"))
        lasted = f"{_seconds(seconds)} later" if seconds is not None else "later"
        what = "its successor ready" if deleted else "back in service"
        rows.append(
            Row(
                end,
                "ready",
                what,
                f"{pod}: {lasted}{_lost(episode)}",
                measured=seconds,
                topic="traffic",
            )
        )
    return rows


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def status_rows(healthdemo: Mapping[str, Any]) -> list[Row]:
    """Rows the status alone can tell: creation, restarts, forgiven failures, readiness now."""
    meta = healthdemo.get("metadata") or {}
    status = healthdemo.get("status") or {}
    rows: list[Row] = []
    created = parse_time(meta.get("creationTimestamp"))
    if created is not None:
        generation = meta.get("generation")
        rows.append(
            Row(
                created,
                "created",
                "HealthDemo created",
                f"generation {generation}" if generation else "",
                source="api",
                origin="object",
            )
        )
    for item in reversed(status.get("history") or []):  # newest first in the status
        rows += history_rows(item)
    forgiven = status.get("lastForgiven") or {}
    forgiven_at = parse_time(forgiven.get("to"))
    if forgiven_at is not None:
        rows.append(
            Row(
                forgiven_at,
                "forgiven",
                "failures forgiven",
                f"{forgiven.get('failures')} of {forgiven.get('failureThreshold')} liveness "
                "failures, fewer than failureThreshold in a row: no restart",
                topic="liveness",
            )
        )
    for episode in reversed((status.get("traffic") or {}).get("episodes") or []):
        rows += episode_rows(episode)
    not_ready_since = parse_time((status.get("readiness") or {}).get("notReadySince"))
    ready = _condition(status, "Ready")
    if not_ready_since is not None:
        rows.append(Row(not_ready_since, "not-ready", "out of service", "the Pod is not ready"))
    elif ready is not None and (at := parse_time(ready.get("lastTransitionTime"))) is not None:
        is_ready = ready.get("status") == "True"
        rows.append(
            Row(
                at,
                "ready" if is_ready else "not-ready",
                "ready" if is_ready else "not ready",
                str(ready.get("message") or ""),
                origin="condition",
            )
        )
    return rows


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    conditions: Sequence[Mapping[str, Any]] = status.get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


# -- Events -------------------------------------------------------------------------------------


def event_span(event: Mapping[str, Any]) -> tuple[datetime | None, datetime | None, int]:
    """(first, last, count) of an Event, core/v1 or events.k8s.io style (series, eventTime)."""
    series = event.get("series") or {}
    first = (
        parse_time(event.get("firstTimestamp"))
        or parse_time(event.get("eventTime"))
        or parse_time((event.get("metadata") or {}).get("creationTimestamp"))
    )
    last = (
        parse_time(event.get("lastTimestamp"))
        or parse_time(series.get("lastObservedTime"))
        or first
    )
    count = int(event.get("count") or series.get("count") or 1)
    return first, last, max(count, 1)


def _pod_event_words(reason: str, message: str) -> tuple[Kind, str, str, str] | None:
    """(kind, what, detail, topic) of a kubelet or scheduler Event about the Pod."""
    if reason in QUIET_REASONS:
        return None
    if reason == "Unhealthy":
        probe, _, words = message.partition(" probe failed: ")
        topic = probe.lower()
        if topic in ("liveness", "readiness", "startup"):
            return "failure", f"{topic} probe failed", words, topic
        return "failure", "probe failed", message, ""
    if reason == "Killing":
        for topic in ("liveness", "startup"):
            if f"failed {topic} probe" in message:
                return "kill", f"killed: {topic} probe", message, topic
        return "info", "stopping the container", message, ""
    if reason == "Started":
        return "started", "container started", message, ""
    if reason == "BackOff":
        return "backoff", "back-off restarting", message, ""
    if reason == "Scheduled":
        return "scheduled", "scheduled", message, ""
    return None


def event_rows(event: Mapping[str, Any]) -> list[Row]:
    """An Event as rows: one at its first time, and one at its last when it was repeated (the
    times in between are not kept by the API server)."""
    reason = str(event.get("reason") or "")
    message = str(event.get("message") or "")
    component = (event.get("source") or {}).get("component") or event.get("reportingComponent")
    source = SOURCES.get(str(component), str(component or ""))
    involved = (event.get("involvedObject") or event.get("regarding") or {}).get("kind")
    if involved == "HealthDemo":
        kind, what, topic = OPERATOR_WORDS.get(
            reason, ("warning" if event.get("type") == "Warning" else "info", reason, "")
        )
        words: tuple[Kind, str, str, str] | None = (kind, what, message, topic)
    else:
        words = _pod_event_words(reason, message)
        if words is None and event.get("type") == "Warning" and reason not in QUIET_REASONS:
            words = ("warning", reason, message, "")
    first, last, count = event_span(event)
    if words is None or first is None:
        return []
    kind, what, detail, topic = words
    row = Row(first, kind, what, detail, source, topic=topic, origin="event")
    if count == 1 or last is None or last <= first:
        return [row if count == 1 else dataclasses.replace(row, what=f"{what} {TIMES}{count}")]
    repeat = dataclasses.replace(
        row, at=last, what=f"{what} {TIMES}{count}", detail=f"{detail} ({count} in all)"
    )
    if kind == "started":  # a container started again: a restart, after the kill in its second
        repeat = dataclasses.replace(repeat, kind="restarted", what="container started again")
    return [row, repeat]


# -- the story ----------------------------------------------------------------------------------


def story_order(row: Row) -> tuple[datetime, int, datetime]:
    """By the second, then by kind: Events have whole seconds, so within one second the story's
    own order (scheduled, started, failing, killed, ...) is the better guess."""
    return row.at.replace(microsecond=0), ORDER[row.kind], row.at


def merge(rows: Iterable[Row]) -> list[Row]:
    """Rows in story order; a moment told by two origins (within SLACK, same kind and topic)
    becomes one row, with the measured seconds and the source of each."""
    ordered = sorted(rows, key=story_order)
    kept: list[Row] = []
    absorbed: set[int] = set()
    for index, row in enumerate(ordered):
        if index in absorbed:
            continue
        partners: dict[Origin, int] = {}
        for other in range(index + 1, len(ordered)):
            candidate = ordered[other]
            if (
                other not in absorbed
                and abs(candidate.at - row.at) <= _slack(row, candidate)
                and candidate.kind == row.kind
                and candidate.topic == row.topic
                and candidate.origin != row.origin
                and candidate.origin not in partners
            ):
                partners[candidate.origin] = other
        told = row
        for other in partners.values():
            absorbed.add(other)
            told = _combine(told, ordered[other])
        kept.append(told)
    return sorted(kept, key=story_order)


RANK: dict[Origin, int] = {"history": 0, "event": 1, "condition": 2, "object": 3}


def _slack(a: Row, b: Row) -> timedelta:
    """How far apart two tellings of one moment may be: an Event's whole seconds and the lag of
    its posting allow SLACK; two records of the operator's (a history item's exact time, a
    condition's whole second) only the rounding."""
    return SLACK if "event" in (a.origin, b.origin) else timedelta(seconds=1)


def _combine(a: Row, b: Row) -> Row:
    """One row from two witnesses of one moment: the status's numbers, the Event's words and
    time (an Event's time is the kubelet's own; the operator's lags)."""
    best, other = (a, b) if RANK[a.origin] <= RANK[b.origin] else (b, a)
    event = a if a.origin == "event" else b if b.origin == "event" else None
    sources = [event.source] if event is not None else []
    for row in (best, other):
        if row.source not in sources:
            sources.append(row.source)
    return dataclasses.replace(
        best,
        at=event.at if event is not None else best.at,
        detail=(event.detail if event is not None and event.detail else best.detail)
        or other.detail,
        source=", ".join(s for s in sources if s),
        measured=best.measured if best.measured is not None else other.measured,
        expected=best.expected if best.expected is not None else other.expected,
    )


def probe_math(spec: Mapping[str, Any], expected: Mapping[str, Any]) -> tuple[str, ...]:
    """status.expected in words, with the spec's numbers it comes from."""
    lines = []
    liveness = expected.get("liveness")
    if liveness:
        probe = spec.get("livenessProbe") or {}
        every = (
            f"every {_seconds(probe['periodSeconds'])}, "
            f"{probe['failureThreshold']} failures in a row: "
            if "periodSeconds" in probe and "failureThreshold" in probe
            else ""
        )
        lines.append(
            f"liveness: {every}killed {_seconds(liveness['firstFailureToActSeconds'])} after "
            f"the first failure, at most {_seconds(liveness['breakToActMaxSeconds'])} after the "
            f"break (a hang adds {_seconds(liveness['hangAddsSeconds'])} a probe)"
        )
    readiness = expected.get("readiness")
    if readiness:
        lines.append(
            f"readiness: out of service {_seconds(readiness['firstFailureToActSeconds'])} after "
            f"the first failure, back {_seconds(readiness.get('backInServiceSeconds', 0))} after "
            "the first success"
        )
    startup = expected.get("startup")
    if startup:
        judge = (
            "no startup probe: the liveness probe judges the start; "
            if startup.get("judgedBy")
            else ""
        )
        fits = "fits" if startup.get("fitsBudget") else "does NOT fit: killed while starting"
        lines.append(
            f"startup: {judge}a budget of {_seconds(startup['budgetSeconds'])} for an app that "
            f"starts in {_seconds(startup['appStartsInSeconds'])}: {fits}"
        )
    return tuple(lines)


def summary_of(healthdemo: Mapping[str, Any]) -> Summary:
    meta = healthdemo.get("metadata") or {}
    status = healthdemo.get("status") or {}
    exact = _condition(status, "CountsComplete")
    ready = _condition(status, "Ready")
    spells = status.get("readiness") or {}
    out = None
    if spells.get("outOfService"):
        out = (
            f"out of service {spells['outOfService']}{TIMES} "
            f"({_seconds(float(spells.get('outOfServiceSeconds') or 0))} in all)"
        )
    return Summary(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        pod=status.get("podName"),
        phase=status.get("phase"),
        ready=None if ready is None else ready.get("status") == "True",
        restarts=int(status.get("restarts") or 0),
        reasons=dict(status.get("restartReasons") or {}),
        probe_failures=int(status.get("probeFailures") or 0),
        readiness_failures=int(status.get("readinessFailures") or 0),
        startup_failures=int(status.get("startupFailures") or 0),
        exact=None if exact is None else exact.get("status") == "True",
        exact_detail=str((exact or {}).get("message") or ""),
        math=probe_math(healthdemo.get("spec") or {}, status.get("expected") or {}),
        out_of_service=out,
    )


def build(healthdemo: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> Timeline:
    """The story of one HealthDemo from its object and the Events about it and its Pod."""
    rows = status_rows(healthdemo)
    for event in events:
        rows += event_rows(event)
    return Timeline(summary_of(healthdemo), tuple(merge(rows)))
