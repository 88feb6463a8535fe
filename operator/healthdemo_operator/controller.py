"""The controller: one reconcile per HealthDemo — observe, ensure the Pod, record, write the
status once — and the only code that creates, replaces or repairs Pods or writes status.

Kopf is the event source: its watch handlers only say which HealthDemo changed (`enqueue`), and
so does the kubelet reader when a Pod's probe counters move. Workers take one HealthDemo at a
time from a coalescing queue (`workqueue`), so a burst of changes becomes one reconcile and one
write, guarded by resourceVersion. A failed reconcile is retried with one back-off policy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from healthdemo_operator import lifecycle, memory, podspec
from healthdemo_operator.kube import ApiException, Kube, one_line
from healthdemo_operator.kubelet_counters import KubeletCounters
from healthdemo_operator.ledger import Ledger
from healthdemo_operator.lifecycle import Action, Outcome
from healthdemo_operator.observations import EventView, PodView, readiness_of
from healthdemo_operator.phase import Problem
from healthdemo_operator.recording import Notice, PodCounters, Recording, record
from healthdemo_operator.settings import Settings
from healthdemo_operator.tracked import Baseline, Tracked
from healthdemo_operator.workqueue import WorkQueue

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 1, 2, 5, 10, 30)
TAKEN_RECHECK_SECONDS = 10  # is the squatter gone?
GOING_RECHECK_SECONDS = 5  # a safety net: the terminating Pod's deletion event brings us back


# What the controller needs of a Kopf index: key → the values stored under it.
Lookup = Mapping[str, Iterable[Any]]


class Joined(Mapping[str, Iterable[Any]]):
    """Several indexes read as one: the values of a key in each, in turn (a key's Events come
    from two watch streams, each Kopf index serving one)."""

    def __init__(self, *parts: Lookup) -> None:
        self.parts = parts

    def __getitem__(self, key: str) -> Iterable[Any]:
        found = [value for part in self.parts for value in part.get(key, ())]
        if not found and not any(key in part for part in self.parts):
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter({key for part in self.parts for key in part})

    def __len__(self) -> int:
        return len({key for part in self.parts for key in part})


@dataclass
class Stats:
    reconciles: int = 0
    patches: int = 0
    conflicts: int = 0
    errors: int = 0


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
        poll_seconds: float = Settings.kubelet_poll_seconds,
        on_reconciled: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.healthdemos, self.pods, self.events = healthdemos, pods, events
        self._kube_factory = kube_factory
        self._kube: Kube | None = None
        self.queue: WorkQueue[str] = WorkQueue(coalesce_seconds)
        self.worker_count = workers
        self.clock = clock
        self.on_reconciled = on_reconciled  # how long each reconcile took (metrics)
        self.tracked: dict[str, Tracked] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = Stats()
        self._trimmed_at = 0  # stats.reconciles when the allocator last gave memory back
        self.counters = KubeletCounters(
            lambda: self.kube,
            on_change=self._counters_moved,
            clock=clock,
            poll_seconds=poll_seconds,
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

    def pod_changed(self, view: PodView) -> None:
        """Note the Pod's Ready state (a reconcile sees only the newest), and reconcile."""
        if view.owner_uid:
            tracked = self.tracked.setdefault(view.owner_uid, Tracked())
            seen = tracked.ready_seen.setdefault(view.uid, [])
            state = readiness_of(view)
            if not seen or seen[-1] != state:
                seen.append(state)
            self.enqueue(view.owner_uid)

    def pod_deleted(self, view: PodView) -> None:
        """Keep a deleted Pod's last status until its restarts are recorded."""
        if view.owner_uid:
            gone = dataclasses.replace(view, gone=True)
            self.tracked.setdefault(view.owner_uid, Tracked()).departed[view.uid] = gone
            self.enqueue(view.owner_uid)

    def forget(self, uid: str) -> None:
        self.queue.forget(uid)
        self.tracked.pop(uid, None)

    # -- the kubelet's counters --------------------------------------------------------------

    def _our_pods(self) -> Iterable[PodView]:
        for views in self.pods.values():
            yield from views
        for tracked in self.tracked.values():
            yield from tracked.departed.values()

    def _nodes(self) -> set[str]:
        return {p.node_name for p in self._our_pods() if p.node_name}

    def _counters_moved(self, node: str, pod_uids: set[str] | None) -> None:
        for pod in self._our_pods():
            if pod.node_name == node and (pod_uids is None or pod.uid in pod_uids):
                self.enqueue(pod.owner_uid)

    async def _counters(self, pods: Iterable[PodView], ledger: Ledger) -> dict[str, PodCounters]:
        """The kubelet's counters for each Pod on a node; read afresh where a restart or a
        deletion is about to be recorded (the failures before it belong to the same write), or
        where the node was not read yet."""
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

    # -- the loop --------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"reconciler-{n}")
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
        """The one retry policy: a failed reconcile comes back after a growing delay, and its
        next status is built on a fresh read (a failed write may have landed)."""
        while True:
            uid = await self.queue.get()
            started = time.monotonic()
            try:
                await self.reconcile(uid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.on_reconciled(time.monotonic() - started)
                self.stats.errors += 1
                tracked = self.tracked.setdefault(uid, Tracked())
                delay = RETRY_DELAYS[min(tracked.failures, len(RETRY_DELAYS) - 1)]
                tracked.failures += 1
                tracked.stale = True
                logger.warning(
                    "reconciling %s failed (%s); retrying in %s s", uid, one_line(exc), delay
                )
                self.queue.done(uid)
                self.queue.add(uid, delay)
                continue
            self.on_reconciled(time.monotonic() - started)
            if uid in self.tracked:
                self.tracked[uid].failures = 0
            self.queue.done(uid)
            if not self.queue and self.stats.reconciles - self._trimmed_at >= memory.BURST:
                self._trimmed_at = self.stats.reconciles
                # A burst is over: its peak need not stay resident — once Kopf's workers have
                # let go of the last bodies they hold (they idle a little before they exit).
                asyncio.get_running_loop().call_later(memory.AFTER_BURST_S, memory.give_back)
            # A reconcile that needed no request never suspended: let the watches and the
            # liveness endpoint run before the next one.
            await asyncio.sleep(0)

    async def reconcile(self, uid: str) -> None:
        """Observe → ensure the Pod → record → write the status once (if it changed)."""
        body = next(iter(self.healthdemos.get(uid, ())), None)
        if body is None:
            self.forget(uid)
            return
        self.stats.reconciles += 1
        tracked = self.tracked.setdefault(uid, Tracked())
        pods, events = self._observed(uid, tracked)
        baseline = await self._baseline(uid, tracked, body, events)
        if baseline is None:
            self.forget(uid)  # deleted meanwhile
            return
        if await self._ensure_pod(uid, tracked, body, pods):
            return  # a Pod was created or deleted: its watch event brings us back
        meta = body["metadata"]
        ready_seen = {uid: list(states) for uid, states in tracked.ready_seen.items()}
        recording = record(
            previous=baseline.status,
            ledger=baseline.ledger.copy(),
            spec=podspec.effective(body.get("spec")),
            generation=int(meta.get("generation") or 1),
            pod_name=podspec.pod_name(meta["name"]),
            pods=pods,
            events=events,
            counters=await self._counters(pods, baseline.ledger),
            ready_seen=ready_seen,
            problem=tracked.problem,
            now=self.clock(),
        )
        if not await self._write(uid, tracked, baseline, body, recording):
            return
        for pod_uid in list(tracked.departed):
            if pod_uid in recording.ledger.pods:
                del tracked.departed[pod_uid]
        for pod_uid, recorded in ready_seen.items():  # newer states may have come meanwhile
            del tracked.ready_seen[pod_uid][: len(recorded)]
            if not tracked.ready_seen[pod_uid]:
                del tracked.ready_seen[pod_uid]
        if recording.recheck_after is not None:
            self.enqueue(uid, recording.recheck_after)
        elif tracked.squatted:
            self.enqueue(uid, TAKEN_RECHECK_SECONDS)

    def _observed(self, uid: str, tracked: Tracked) -> tuple[list[PodView], list[EventView]]:
        pods: dict[str, PodView] = dict(tracked.departed)
        pods.update({p.uid: p for p in self.pods.get(uid, ())})
        events: list[EventView] = []
        for pod_uid in pods:
            events.extend(self.events.get(pod_uid, ()))
        return list(pods.values()), events

    async def _baseline(
        self, uid: str, tracked: Tracked, body: Mapping[str, Any], events: list[EventView]
    ) -> Baseline | None:
        """The status to build on: ours if we wrote it, else the server's."""
        if tracked.stale:
            meta = body["metadata"]
            fresh = await asyncio.to_thread(
                self.kube.read_healthdemo, meta["namespace"], meta["name"]
            )
            if fresh is None or fresh["metadata"]["uid"] != uid:
                return None
            tracked.baseline, tracked.stale = Baseline.of(fresh, events), False
        elif tracked.baseline is None:
            tracked.baseline = Baseline.of(body, events)
        elif body.get("status") == tracked.baseline.status:
            # The watch has caught up with our write; a newer version (a label, an annotation)
            # changed nothing we own, so build on it instead of failing the precondition.
            tracked.baseline.resource_version = body["metadata"]["resourceVersion"]
        return tracked.baseline

    async def _ensure_pod(
        self, uid: str, tracked: Tracked, body: Mapping[str, Any], pods: list[PodView]
    ) -> bool:
        """One step towards the Pod the spec asks for; True if a Pod was created or deleted."""
        step = lifecycle.plan(body, pods)
        if step.action is Action.INVALID:
            # No retry storm: nothing is tried again until the user edits the spec.
            tracked.problem, tracked.squatted = Problem("InvalidSpec", step.message), False
            return False
        if step.action in (Action.KEEP, Action.WAIT):
            tracked.problem, tracked.squatted = None, False
            if step.action is Action.WAIT:
                self.enqueue(uid, GOING_RECHECK_SECONDS)
            return False
        if step.action is Action.REPLACE and step.pod is not None:
            if step.pod.node_name:  # its counts are final once it is deleted: read them first
                await self.counters.refresh(step.pod.node_name)
            await asyncio.to_thread(lifecycle.replace, self.kube, body, step.pod)
            tracked.problem = None
            await self._post(body, [Notice("Normal", "ReplacingPod", step.message)])
            return True
        if tracked.closing:
            return False
        result = await asyncio.to_thread(
            lifecycle.create, self.kube, body, look_first=tracked.squatted
        )
        tracked.closing = result.outcome is Outcome.CLOSING
        tracked.squatted = result.outcome is Outcome.TAKEN
        tracked.problem = Problem("PodNameTaken", result.message) if tracked.squatted else None
        logger.info("%s/%s: %s", body["metadata"]["namespace"], body["metadata"]["name"],
                    result.message)  # fmt: skip
        return result.outcome is Outcome.CREATED

    async def _write(
        self,
        uid: str,
        tracked: Tracked,
        baseline: Baseline,
        body: Mapping[str, Any],
        recording: Recording,
    ) -> bool:
        """The one status write, guarded by resourceVersion; False after a conflict (the
        reconcile runs again at once, from a fresh read)."""
        if recording.status == baseline.status:
            return True
        meta = body["metadata"]
        try:
            version = await asyncio.to_thread(
                self.kube.replace_status,
                meta["namespace"],
                meta["name"],
                recording.status,
                baseline.resource_version,
            )
        except ApiException as exc:
            if exc.status in (409, 422):  # someone else wrote: start from a fresh read
                self.stats.conflicts += 1
                tracked.stale = True
                self.queue.add(uid, 0)
                return False
            raise
        self.stats.patches += 1
        tracked.baseline = Baseline(recording.status, recording.ledger, version)
        await self._post(body, recording.notices)
        return True

    async def _post(self, body: Mapping[str, Any], notices: Iterable[Notice]) -> None:
        for notice in notices:
            try:
                await asyncio.to_thread(
                    self.kube.post_event, body, notice.type, notice.reason, notice.message
                )
            except ApiException as exc:  # an Event is a courtesy: the status already says it
                logger.warning("could not post Event %s: %s", notice.reason, one_line(exc))
