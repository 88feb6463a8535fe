"""The recorder loop: the single writer of every HealthDemo's status.

Kopf's watch handlers only note what changed (`enqueue`), and so does the kubelet reader when a
Pod's probe counters move; workers take one HealthDemo at a time from a coalescing queue,
compute its status from the indexed Pods and Events and the kubelet's counters
(`recording.record`) and write it in one request, guarded by resourceVersion.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from healthdemo_operator import lifecycle, podspec
from healthdemo_operator.kube import ApiException, Kube
from healthdemo_operator.kubelet_counters import KubeletCounters
from healthdemo_operator.ledger import Ledger
from healthdemo_operator.observations import EventView, PodView, current_pod
from healthdemo_operator.recording import PodCounters, Problem, record
from healthdemo_operator.workqueue import WorkQueue

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 1, 2, 5, 10, 30)
TAKEN_RECHECK_SECONDS = 10


# What the controller needs of a Kopf index: key → the values stored under it.
Lookup = Mapping[str, Iterable[Any]]


@dataclass
class _Written:
    """What this process last wrote (or read) for one HealthDemo."""

    status: dict[str, Any]
    resource_version: str


@dataclass
class Stats:
    reconciles: int = 0
    patches: int = 0
    conflicts: int = 0
    errors: int = 0
    events_posted: int = 0
    last_latency: dict[str, float] = field(default_factory=dict)


class Controller:
    def __init__(
        self,
        *,
        healthdemos: Lookup,
        pods: Lookup,
        events: Lookup,
        kube_factory: Callable[[], Kube] = Kube,
        workers: int = 4,
        coalesce_seconds: float = 0.02,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_seconds: float | None = None,
    ) -> None:
        self.healthdemos, self.pods, self.events = healthdemos, pods, events
        self._kube_factory = kube_factory
        self._kube: Kube | None = None
        self.queue: WorkQueue[str] = WorkQueue(coalesce_seconds)
        self.worker_count = workers
        self.clock = clock
        self.problems: dict[str, Problem] = {}
        self.final_pods: dict[str, dict[str, PodView]] = {}  # owner uid → deleted Pods' last views
        self._written: dict[str, _Written] = {}
        self._reread: set[str] = set()
        self._failures: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = Stats()
        self.counters = KubeletCounters(
            lambda: self.kube,
            on_change=self._counters_moved,
            clock=clock,
            **({"poll_seconds": poll_seconds} if poll_seconds is not None else {}),
        )

    @property
    def kube(self) -> Kube:
        if self._kube is None:  # after Kopf's login has configured the client
            self._kube = self._kube_factory()
        return self._kube

    # -- called by the Kopf handlers -------------------------------------------------------

    def enqueue(self, uid: str | None, delay: float | None = None) -> None:
        if uid:
            self.queue.add(uid, delay)

    def note(self, uid: str, result: lifecycle.Result) -> None:
        """Record what the last attempt to ensure the Pod found (a problem, or none)."""
        problem = None
        if result.outcome is lifecycle.Outcome.INVALID:
            problem = Problem("InvalidSpec", result.message)
        elif result.outcome is lifecycle.Outcome.TAKEN:
            problem = Problem("PodNameTaken", result.message)
        if self.problems.get(uid) != problem:
            if problem is None:
                self.problems.pop(uid, None)
            else:
                self.problems[uid] = problem
            self.enqueue(uid)

    def pod_deleted(self, view: PodView) -> None:
        """Keep a deleted Pod's last status until its restarts are recorded."""
        if view.owner_uid:
            gone = dataclasses.replace(view, gone=True)
            self.final_pods.setdefault(view.owner_uid, {})[view.uid] = gone
            self.enqueue(view.owner_uid)

    def _our_pods(self) -> Iterable[PodView]:
        for views in self.pods.values():
            yield from views
        for finals in self.final_pods.values():
            yield from finals.values()

    def _nodes(self) -> set[str]:
        return {p.node_name for p in self._our_pods() if p.node_name}

    def _counters_moved(self, node: str, pod_uids: set[str] | None) -> None:
        for pod in self._our_pods():
            if pod.node_name == node and (pod_uids is None or pod.uid in pod_uids):
                self.enqueue(pod.owner_uid)

    async def read_before_deleting(self, pod: PodView | None) -> None:
        """Called before the operator deletes its own Pod: its counts are final right after."""
        if pod is not None and pod.node_name:
            await self.counters.refresh(pod.node_name)

    def forget(self, uid: str) -> None:
        self.queue.forget(uid)
        self.problems.pop(uid, None)
        self.final_pods.pop(uid, None)
        self._written.pop(uid, None)
        self._failures.pop(uid, None)
        self._reread.discard(uid)

    # -- the loop --------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"recorder-{n}")
            for n in range(self.worker_count)
        ]
        self._tasks.append(asyncio.create_task(self._poll(), name="kubelet-counters"))

    async def _poll(self) -> None:
        await self.counters.run(self._nodes)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            uid = await self.queue.get()
            try:
                await self.reconcile(uid)
                self._failures.pop(uid, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.errors += 1
                failures = self._failures.get(uid, 0)
                self._failures[uid] = failures + 1
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                logger.warning("recording %s failed (%s); retrying in %s s", uid, exc, delay)
                self._reread.add(uid)  # the write may have landed: trust only a fresh read
                self.queue.done(uid)
                self.queue.add(uid, delay)
                continue
            self.queue.done(uid)

    def _observed(self, uid: str) -> tuple[list[PodView], list[EventView]]:
        pods: dict[str, PodView] = dict(self.final_pods.get(uid, {}))
        pods.update({p.uid: p for p in self.pods.get(uid, ())})
        events: list[EventView] = []
        for pod_uid in pods:
            events.extend(self.events.get(pod_uid, ()))
        return list(pods.values()), events

    async def reconcile(self, uid: str) -> None:
        """Record one HealthDemo's status; a no-op when nothing changed."""
        started = time.monotonic()
        bodies = list(self.healthdemos.get(uid, ()))
        if not bodies:
            self.forget(uid)
            return
        body: Mapping[str, Any] = bodies[0]
        meta = body["metadata"]
        self.stats.reconciles += 1
        written = await self._baseline(uid, body)
        if written is None:
            self.forget(uid)  # deleted meanwhile
            return
        pods, events = self._observed(uid)
        if current_pod(pods) is None and await self._repair(uid, body):
            return  # created: its watch event brings us back here
        counters = await self._counters(pods, written.status)
        recording = record(
            previous=written.status,
            spec=podspec.effective(body.get("spec")),
            generation=int(meta.get("generation") or 1),
            pod_name=podspec.pod_name(meta["name"]),
            pods=pods,
            events=events,
            counters=counters,
            problem=self.problems.get(uid),
            now=self.clock(),
        )
        if recording.status != written.status:
            try:
                version = await asyncio.to_thread(
                    self.kube.replace_status,
                    meta["namespace"],
                    meta["name"],
                    recording.status,
                    written.resource_version,
                )
            except ApiException as exc:
                if exc.status in (409, 422):  # someone else wrote: start from a fresh read
                    self.stats.conflicts += 1
                    self._reread.add(uid)
                    self.queue.add(uid, 0)
                    return
                raise
            self.stats.patches += 1
            self._written[uid] = _Written(recording.status, version)
            await self._post(body, recording.notices)
        for pod_uid in list(self.final_pods.get(uid, {})):
            if pod_uid in recording.status["accounting"]["pods"]:
                del self.final_pods[uid][pod_uid]
        if recording.recheck_after is not None:
            self.enqueue(uid, recording.recheck_after)
        elif uid in self.problems and self.problems[uid].reason == "PodNameTaken":
            self.enqueue(uid, TAKEN_RECHECK_SECONDS)  # see whether the squatter has gone
        self.stats.last_latency["reconcile"] = time.monotonic() - started

    async def _counters(
        self, pods: Iterable[PodView], status: Mapping[str, Any]
    ) -> dict[str, PodCounters]:
        """The kubelet's counters for each Pod on a node; read afresh where a restart or a
        deletion is about to be recorded (the failures before it belong to the same write), or
        where the node was not read yet."""
        ledger = Ledger.load(status.get("accounting"), ())
        fresh: set[str] = set()
        for pod in pods:
            if not pod.node_name:
                continue
            entry = ledger.pods.get(pod.uid)
            if (
                self.counters.latest(pod.node_name) is None
                or entry is None
                or pod.restart_count > entry.restarts
                or ((pod.deleting or pod.gone) and not entry.final)
            ):
                fresh.add(pod.node_name)
        await asyncio.gather(*(self.counters.refresh(node) for node in fresh))
        return {p.uid: self.counters.pod(p.uid, p.node_name) for p in pods if p.node_name}

    async def _repair(self, uid: str, body: Mapping[str, Any]) -> bool:
        """Our Pod was deleted (by someone else), or a foreign Pod held its name, and none is
        live: make it again; True if one was created. A new HealthDemo's first Pod and spec
        updates are the Kopf handlers' job; this is the safety net, retried with the recorder's
        back-off if the API fails."""
        problem = self.problems.get(uid)
        squatted = problem is not None and problem.reason == "PodNameTaken"
        if uid not in self.final_pods and not squatted:
            return False
        result = await asyncio.to_thread(lifecycle.ensure_pod, self.kube, body)
        self.note(uid, result)
        return result.outcome is lifecycle.Outcome.CREATED

    async def _baseline(self, uid: str, body: Mapping[str, Any]) -> _Written | None:
        """The status to build on: ours if we wrote it, else the server's."""
        if uid in self._reread:
            meta = body["metadata"]
            fresh = await asyncio.to_thread(
                self.kube.read_healthdemo, meta["namespace"], meta["name"]
            )
            if fresh is None or fresh["metadata"]["uid"] != uid:
                return None
            self._reread.discard(uid)
            self._written[uid] = _Written(
                dict(fresh.get("status") or {}), fresh["metadata"]["resourceVersion"]
            )
        elif uid not in self._written:
            self._written[uid] = _Written(
                dict(body.get("status") or {}), body["metadata"]["resourceVersion"]
            )
        elif body.get("status") == self._written[uid].status:
            # The watch has caught up with our write; a newer version (Kopf's annotations, a
            # label) changed nothing we own, so build on it instead of failing the precondition.
            self._written[uid].resource_version = body["metadata"]["resourceVersion"]
        return self._written[uid]

    async def _post(self, body: Mapping[str, Any], notices: Iterable[Any]) -> None:
        for notice in notices:
            try:
                await asyncio.to_thread(
                    self.kube.post_event, body, notice.type, notice.reason, notice.message
                )
                self.stats.events_posted += 1
            except ApiException as exc:  # an Event is a courtesy: the status already says it
                logger.warning("could not post Event %s: %s", notice.reason, exc)
