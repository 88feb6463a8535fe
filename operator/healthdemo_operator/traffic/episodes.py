"""Episodes a Pod was out of service for other reasons than a restart, and the requests each cost.
Pure.

A restart's cost is on its history item (`requestsLost`). Two more kinds of episode can cost
requests, and each gets a record here, newest first:
- `OutOfService`: a Pod's spell out of service (Ready False → True) with no restart of it in the
  spell (readiness failing, or switched off). With one replica there is nowhere else to go.
- `PodDeleted`: from the moment a Pod's deletion was asked for until the Pod that replaces it is
  ready (or, where no Pod replaces it, until it is gone). Requests still routed to it after its
  SIGTERM and before the endpoints drop it are refused, unless a preStop sleep keeps it serving.

The loss is told once the episode is over and the client has answered after it: the client's
failure windows that overlap the episode (`windows.lost_between`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from healthdemo_operator.observations import PodView, readiness_of
from healthdemo_operator.timestamps import parse_time, stamp
from healthdemo_operator.traffic import windows

Kind = Literal["OutOfService", "PodDeleted"]
# Every kind of episode with a cost in requests (a restart's is on its history item).
KINDS = ("Restart", "OutOfService", "PodDeleted")
KEPT = 20  # the newest episodes; each one's loss is also in the metric's running total


@dataclass
class Episode:
    kind: Kind
    pod: str
    pod_uid: str
    replica: int
    start: str
    end: str | None = None
    requests_lost: int | None = None
    # The seconds from start to end, as the kubelet and the API server dated them.
    seconds: float | None = None

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> Episode:
        kind: Kind = "PodDeleted" if raw.get("kind") == "PodDeleted" else "OutOfService"
        return cls(
            kind,
            str(raw.get("pod") or ""),
            str(raw.get("podUID") or ""),
            int(raw.get("replica") or 0),
            str(raw.get("start") or ""),
            raw.get("end"),
            raw.get("requestsLost"),
            raw.get("seconds"),
        )

    def dump(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "kind": self.kind,
            "pod": self.pod,
            "podUID": self.pod_uid,
            "replica": self.replica,
            "start": self.start,
        }
        for key, value in (
            ("end", self.end),
            ("seconds", self.seconds),
            ("requestsLost", self.requests_lost),
        ):
            if value is not None:
                raw[key] = value
        return raw

    def close(self, at: datetime) -> None:
        began = parse_time(self.start)
        self.end = stamp(at)
        if began is not None:
            self.seconds = round(max((at - began).total_seconds(), 0.0), 1)


def _add(episodes: list[Episode], episode: Episode) -> None:
    episodes.insert(0, episode)
    del episodes[KEPT:]


def spell(
    episodes: list[Episode], pod: PodView, began: datetime, ended: datetime, *, restarted: bool
) -> None:
    """A spell out of service just ended. One with a restart of the Pod in it is the restart's
    (its history item counts the loss), so it is not an episode of its own."""
    if restarted:
        return
    episode = Episode("OutOfService", pod.name, pod.uid, pod.replica, stamp(began))
    episode.close(ended)
    _add(episodes, episode)


def follow_deletions(
    episodes: list[Episode], pods: Sequence[PodView], *, replicas: int, now: datetime
) -> None:
    """Open an episode for each Pod whose deletion was asked for; close it once the replica's
    new Pod is ready, or once the Pod is gone if no Pod replaces it (fewer replicas)."""
    known = {e.pod_uid for e in episodes if e.kind == "PodDeleted"}
    for pod in pods:
        if (pod.deleting or pod.gone) and pod.uid not in known:
            asked = pod.deletion_requested or now
            _add(
                episodes,
                Episode("PodDeleted", pod.name, pod.uid, pod.replica, stamp(asked)),
            )
    present = {pod.uid for pod in pods if not pod.gone}
    for episode in episodes:
        if episode.kind != "PodDeleted" or episode.end is not None:
            continue
        if episode.replica >= replicas:
            if episode.pod_uid not in present:
                episode.close(now)
            continue
        successor = next(
            (
                p
                for p in pods
                if p.replica == episode.replica
                and p.uid != episode.pod_uid
                and not (p.deleting or p.gone)
                and p.ready
            ),
            None,
        )
        if successor is not None:
            episode.close(readiness_of(successor).changed or now)


def count_lost(
    episodes: Sequence[Episode],
    counts: Mapping[str, Any],
    lost_by_kind: dict[str, int],
    *,
    now: datetime,
) -> None:
    """Each ended episode's requests lost, once the client may have answered after it; each is
    added to the running total of its kind (`lost_by_kind`) in the same write, once."""
    for episode in episodes:
        if episode.requests_lost is not None or episode.end is None:
            continue
        began, ended = parse_time(episode.start), parse_time(episode.end)
        if began is None or ended is None:
            continue
        if now.timestamp() < ended.timestamp() + windows.CLOCK_SLACK_S:
            continue
        episode.requests_lost = windows.lost_between(counts, began.timestamp(), ended.timestamp())
        if episode.requests_lost is not None:
            lost_by_kind[episode.kind] = lost_by_kind.get(episode.kind, 0) + episode.requests_lost
