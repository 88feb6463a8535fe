"""The operator's ledger, kept in `status.accounting`: what it has already counted, per Pod, per
container and probe, and per Event, so that a restarted operator adds only what is new — never
twice, never lost.

Typed here, stored as plain JSON (the CRD declares every field, or the API server would prune
it) and written in the same status update as the totals it explains. Version 3 keeps one tally
shape for every probe of every container; it reads what versions 1 and 2 wrote, so a status
written by an older operator keeps every count.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_operator.observations import EventView
from healthdemo_operator.traffic.tally import Seen

VERSION = 3
MAX_GAPS = 10
LIVENESS = "Liveness"
STARTED_SLACK = 1.0  # seconds: the same kubelet process, printed alike or not


@dataclass(slots=True)
class Tally:
    """Failures of one probe of one container, as each source told them."""

    events: int = 0  # as the kubelet's Events told them
    raw: int | None = None  # the kubelet's counter (prober_probe_total) at the last read
    kubelet_started: float | None = None  # ...counted by the kubelet process started then
    total: int = 0  # ...added up across resets of that counter
    counted: int = 0  # in the status: the larger of the two lower bounds
    at: str | None = None  # when the kubelet's counter last moved

    def follow(self, raw: int, at: str | None, kubelet_started: float | None = None) -> bool:
        """Take the kubelet's counter; True if it was reset (the kubelet restarted: what it
        counted since the last read is lost): it went down, or another kubelet process counts
        now (the count alone may not have gone down yet)."""
        restarted = (
            kubelet_started is not None
            and self.kubelet_started is not None
            and abs(kubelet_started - self.kubelet_started) > STARTED_SLACK
        )
        reset = self.raw is not None and (raw < self.raw or restarted)
        if self.raw is None:
            self.total = raw
        else:
            self.total += raw if reset else raw - self.raw
        if raw != self.raw:
            self.raw, self.at = raw, at
        if kubelet_started is not None:
            self.kubelet_started = kubelet_started
        return reset

    def uncounted(self) -> int:
        """What the status does not have yet, now counted."""
        known = max(self.events, self.total)
        delta = known - self.counted
        if delta <= 0:
            return 0
        self.counted = known
        return delta

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> Tally:
        return cls(
            events=int(raw.get("events") or 0),
            raw=raw.get("raw"),
            kubelet_started=raw.get("kubeletStarted"),
            total=int(raw.get("total") or 0),
            counted=int(raw.get("counted") or 0),
            at=raw.get("at"),
        )

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"events": self.events, "raw": self.raw, "total": self.total}
        raw["counted"] = self.counted
        if self.kubelet_started is not None:
            raw["kubeletStarted"] = self.kubelet_started
        if self.at is not None:
            raw["at"] = self.at
        return raw


@dataclass(slots=True)
class ContainerEntry:
    """One container of a Pod: its restarts and its probes' failures."""

    restarts: int = 0  # the container's restartCount already counted
    kills: int = 0  # liveness Killing Events already paired with a restart (no journal)
    resizes: int = 0  # "resize requires restart" Killing Events already paired with a restart
    probes: dict[str, Tally] = field(default_factory=dict)  # by the kubelet's probe_type
    # The kubelet's CrashLoopBackOff for its next restart, by the node's schedule (seconds;
    # None until a restart was seen whole: after a jump of several, it is not known).
    backoff: float | None = None

    def tally(self, probe_type: str) -> Tally:
        return self.probes.setdefault(probe_type, Tally())

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> ContainerEntry:
        return cls(
            restarts=int(raw.get("restarts") or 0),
            kills=int(raw.get("kills") or 0),
            resizes=int(raw.get("resizes") or 0),
            probes={kind: Tally.load(t) for kind, t in (raw.get("probes") or {}).items()},
            backoff=raw.get("backOff"),
        )

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "restarts": self.restarts,
            "kills": self.kills,
            "probes": {kind: tally.dump() for kind, tally in self.probes.items()},
        }
        if self.backoff is not None:
            raw["backOff"] = self.backoff
        if self.resizes:
            raw["resizes"] = self.resizes
        return raw


@dataclass(slots=True)
class PodEntry:
    """One Pod of the HealthDemo (also a replaced one, for a while)."""

    seen: str | None = None  # when a restart of it was last counted
    normal_events: int = 0  # Normal Events the kubelet posted about it (its Event budget)
    final: bool = False  # its last state after deletion is recorded: gone is fine
    ready: bool | None = None  # its readiness when last seen
    ready_at: str | None = None  # ...and when it last changed (the Ready condition's time)
    out_since: str | None = None  # it left service then (seen ready before), not back yet
    containers: dict[str, ContainerEntry] = field(default_factory=dict)

    def container(self, name: str = CONTAINER_NAME) -> ContainerEntry:
        return self.containers.setdefault(name, ContainerEntry())

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> PodEntry:
        return cls(
            seen=raw.get("seen"),
            normal_events=int(raw.get("normalEvents") or 0),
            final=bool(raw.get("final")),
            ready=raw.get("ready"),
            ready_at=raw.get("readyAt"),
            out_since=raw.get("outSince"),
            containers={
                name: ContainerEntry.load(c) for name, c in (raw.get("containers") or {}).items()
            },
        )

    @classmethod
    def load_v2(cls, raw: Mapping[str, Any]) -> PodEntry:
        """Version 2 kept the webapp container's counts flat, liveness apart from the others."""
        entry = cls.load(raw)
        kubelet = raw.get("kubelet") or {}
        probes = {kind: Tally.load(t) for kind, t in (raw.get("others") or {}).items()}
        probes[LIVENESS] = Tally(
            events=int(raw.get("events") or 0),
            raw=kubelet.get("raw"),
            total=int(kubelet.get("total") or 0),
            counted=int(raw.get("failures") or 0),
            at=kubelet.get("at"),
        )
        entry.containers = {
            CONTAINER_NAME: ContainerEntry(
                restarts=int(raw.get("restarts") or 0),
                kills=int(raw.get("kills") or 0),
                resizes=int(raw.get("resizes") or 0),
                probes=probes,
            )
        }
        return entry

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"seen": self.seen, "normalEvents": self.normal_events}
        if self.final:
            raw["final"] = True
        if self.ready is not None:
            raw.update(ready=self.ready, readyAt=self.ready_at, outSince=self.out_since)
        raw["containers"] = {name: c.dump() for name, c in self.containers.items()}
        return raw


@dataclass(slots=True)
class EventEntry:
    count: int  # the Event's count already counted
    last: str | None
    pod: str


@dataclass(slots=True)
class Gap:
    """A signal that was truly lost: the numbers it fed are lower bounds from then on."""

    reason: str
    message: str
    at: str | None


@dataclass(slots=True)
class Episode:
    """Liveness failures with no restart between them: they end in a kill, or are forgiven."""

    start: str | None
    failures: int
    last_failure: str | None

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None) -> Episode | None:
        if not raw:
            return None
        return cls(raw.get("start"), int(raw.get("failures") or 0), raw.get("lastFailure"))

    def dump(self) -> dict[str, Any]:
        return {"start": self.start, "failures": self.failures, "lastFailure": self.last_failure}


@dataclass(slots=True)
class Ledger:
    pods: dict[str, PodEntry] = field(default_factory=dict)
    events: dict[str, EventEntry] = field(default_factory=dict)
    episode: Episode | None = None
    gaps: list[Gap] = field(default_factory=list)
    traffic: dict[str, Seen] = field(default_factory=dict)  # each traffic client Pod's last tally

    @classmethod
    def load(cls, raw: Mapping[str, Any] | None, live_events: Iterable[EventView]) -> Ledger:
        """Any version: 3 as it is, 2 reshaped, 1 (Events only) from what its Events say."""
        raw = raw or {}
        version = raw.get("version")
        load_pod = PodEntry.load if version == VERSION else PodEntry.load_v2
        pods = {uid: load_pod(entry) for uid, entry in (raw.get("pods") or {}).items()}
        pod_of = {e.uid: e.pod_uid for e in live_events}
        events = {
            uid: EventEntry(
                int(entry.get("count") or 0),
                entry.get("last"),
                entry.get("pod") or pod_of.get(uid, ""),
            )
            for uid, entry in (raw.get("events") or {}).items()
        }
        if raw and version not in (2, VERSION):
            # Version 1 counted liveness failures from Events only, without Pods: what it
            # counted per Pod is what its live Events say.
            for entry in events.values():
                if entry.pod in pods:
                    liveness = pods[entry.pod].container().tally(LIVENESS)
                    liveness.events += entry.count
                    liveness.counted += entry.count
        gaps = [Gap(g["reason"], g["message"], g.get("at")) for g in raw.get("gaps") or []]
        traffic = {uid: Seen.of(seen) for uid, seen in (raw.get("traffic") or {}).items()}
        return cls(
            pods=pods,
            events=events,
            episode=Episode.load(raw.get("episode")),
            gaps=gaps,
            traffic=traffic,
        )

    def copy(self) -> Ledger:
        """A copy to count on: the original stays as written until the write succeeds."""
        return copy.deepcopy(self)

    def add_gap(self, reason: str, message: str, at: str | None) -> None:
        if all(g.message != message for g in self.gaps):
            self.gaps.append(Gap(reason, message, at))
            del self.gaps[:-MAX_GAPS]

    def dump(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "pods": {uid: entry.dump() for uid, entry in self.pods.items()},
            "events": {
                uid: {"count": e.count, "last": e.last, "pod": e.pod}
                for uid, e in self.events.items()
            },
            "episode": self.episode.dump() if self.episode else None,
            "gaps": [{"reason": g.reason, "message": g.message, "at": g.at} for g in self.gaps],
            "traffic": {uid: seen.dump() for uid, seen in self.traffic.items()},
        }
