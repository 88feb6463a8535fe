"""The controller: one reconcile per HealthDemo — observe, ensure the Pod, record, write the
status once — and the only code that creates, replaces or repairs Pods or writes status.

What it observes it keeps itself: the HealthDemos as Kopf's watch delivers them (Kopf brings
peering, namespaces and login), our Pods and the kubelet's Events from its own informers
(`caches.py`: listed once, then watched), the kubelet's probe counters from `kubelet_counters`.
Anything that changed says which HealthDemo to look at (`enqueue`); workers take one HealthDemo at
a time from a coalescing queue (`workqueue`), so a burst of changes becomes one reconcile and one
write, guarded by resourceVersion. A reconcile says when it wants to run again; the worker loop
alone puts it back in the queue, with one back-off policy for failures. Nothing is reconciled
before the caches have listed everything once, nor while Kopf has paused the operator in favour
of another replica (`peering_gate`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from healthdemo_operator import lifecycle, memory, names, podspec
from healthdemo_operator.apisession import ApiSession
from healthdemo_operator.caches import Caches
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.informer import Informer
from healthdemo_operator.kube import ApiException, Kube, one_line
from healthdemo_operator.kubelet.probe_counters import PodCounters
from healthdemo_operator.kubelet.reader import KubeletCounters
from healthdemo_operator.lifecycle import Action, Outcome
from healthdemo_operator.logs import story_line
from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_operator.observations import (
    EventView,
    PodView,
    ServiceView,
    live_pods,
    readiness_of,
)
from healthdemo_operator.settings import Settings
from healthdemo_operator.status.ledger import Ledger
from healthdemo_operator.status.phase import Problem
from healthdemo_operator.status.record import record
from healthdemo_operator.status.recording import Notice, Recording
from healthdemo_operator.tracked import Baseline, Tracked
from healthdemo_operator.traffic import pod as trafficpod
from healthdemo_operator.traffic import reader as traffic_reader
from healthdemo_operator.traffic.pod import ClientView
from healthdemo_operator.workqueue import WorkQueue

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 1, 2, 5, 10, 30)
TAKEN_RECHECK_SECONDS = 10  # is the squatter gone?
GOING_RECHECK_SECONDS = 5  # a safety net: the terminating Pod's deletion event brings us back
AT_ONCE = 0.0
TRAFFIC_READ_SECONDS = 2.0  # the traffic client's counts, read this often while it runs
# Deleted HealthDemos remembered, so that their Pods' last events (garbage collection deletes
# them after their owner) start no tracking: a bound, not a leak, for a churning cluster.
DELETED_REMEMBERED = 10_000


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
        session: ApiSession | None = None,
        kube_factory: Callable[[], Kube] = Kube,
        workers: int = 4,
        coalesce_seconds: float = 0.02,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_seconds: float = Settings.kubelet_poll_seconds,
        on_reconciled: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self.healthdemos: dict[str, HealthDemo] = {}
        self._deleted: OrderedDict[str, None] = OrderedDict()  # oldest first
        self.caches = Caches(
            session or ApiSession(),
            on_pod=self._pod_changed,
            on_event=self._event_changed,
            on_service=self._service_changed,
            on_owner=self.enqueue,
        )
        self._kube_factory = kube_factory
        self._kube: Kube | None = None
        self.queue: WorkQueue[str] = WorkQueue(coalesce_seconds)
        self.worker_count = workers
        self.clock = clock
        self.on_reconciled = on_reconciled  # how long each reconcile took (metrics)
        self.tracked: dict[str, Tracked] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = Stats()
        self.active = asyncio.Event()  # cleared while Kopf pauses us for another replica
        self.active.set()
        self.logged_in = asyncio.Event()  # Kopf logs in after its start-up handlers
        self._trimmed_at = 0  # stats.reconciles when the allocator last gave memory back
        self.counters = KubeletCounters(
            lambda: self.kube, on_change=self._counters_moved, clock=clock,
            poll_seconds=poll_seconds,
        )  # fmt: skip

    @property
    def kube(self) -> Kube:
        if self._kube is None:  # after Kopf's login has configured the client
            self._kube = self._kube_factory()
        return self._kube

    # -- what changed: say which HealthDemo to look at --------------------------------------

    def enqueue(self, uid: str | None, delay: float | None = None) -> None:
        if uid:
            self.queue.add(uid, delay)

    def healthdemo_changed(self, healthdemo: HealthDemo) -> None:
        """A HealthDemo as Kopf's watch delivered it. Our own status write comes back this way
        too: that version is the one we built on, so there is nothing to do."""
        self.healthdemos[healthdemo.uid] = healthdemo
        tracked = self.tracked.get(healthdemo.uid)
        baseline = tracked.baseline if tracked else None
        if baseline is not None and baseline.resource_version == healthdemo.resource_version:
            return
        # At once: a new HealthDemo waits for its Pod (the coalescing window is for bursts of
        # Pod and Event updates, which a HealthDemo does not have).
        self.enqueue(healthdemo.uid, AT_ONCE)

    def healthdemo_deleted(self, uid: str) -> None:
        """Its Pod goes by garbage collection (ownerReference)."""
        self.healthdemos.pop(uid, None)
        self.queue.forget(uid)
        self.tracked.pop(uid, None)
        self._deleted[uid] = None
        if len(self._deleted) > DELETED_REMEMBERED:
            self._deleted.popitem(last=False)

    def _pod_changed(self, before: PodView | None, after: PodView | None) -> None:
        view = after or before
        if view is None or view.owner_uid in self._deleted:
            return  # its HealthDemo is gone: nothing of it is recorded any more
        if after is not None:
            self._note_ready(after)
        elif before is not None:
            self._note_departed(before)

    def _note_ready(self, view: PodView) -> None:
        """Note the Pod's Ready state (a reconcile sees only the newest), and reconcile at once:
        the Pod status is what a restart, a readiness change or a crash loop shows in; the
        Events that come before it (the kubelet's Killing, Unhealthy) wait for it in the
        coalescing window, so that one write tells both."""
        if view.owner_uid:
            tracked = self.tracked.setdefault(view.owner_uid, Tracked())
            seen = tracked.ready_seen.setdefault(view.uid, [])
            state = readiness_of(view)
            if not seen or seen[-1] != state:
                seen.append(state)
            self.enqueue(view.owner_uid, AT_ONCE)

    def _note_departed(self, view: PodView) -> None:
        """Keep a deleted Pod's last status until its restarts are recorded."""
        if view.owner_uid:
            gone = dataclasses.replace(view, gone=True)
            self.tracked.setdefault(view.owner_uid, Tracked()).departed[view.uid] = gone
            self.enqueue(view.owner_uid)

    def _service_changed(self, service: ServiceView) -> None:
        """A Service of ours came, changed or went: its HealthDemo makes one if it has none."""
        self.enqueue(service.owner_uid)

    def _event_changed(self, event: EventView) -> None:
        self.enqueue(self.caches.owner_of(event.pod_uid))

    def _counters_moved(self, node: str, pod_uids: set[str] | None) -> None:
        for pod in self._our_pods():
            if pod.node_name == node and (pod_uids is None or pod.uid in pod_uids):
                self.enqueue(pod.owner_uid)

    # -- the kubelet's counters --------------------------------------------------------------

    def _our_pods(self) -> Iterable[PodView]:
        yield from self.caches.pods
        for tracked in self.tracked.values():
            yield from tracked.departed.values()

    def _nodes(self) -> set[str]:
        return {p.node_name for p in self._our_pods() if p.node_name}

    async def _counters(self, pods: Iterable[PodView], ledger: Ledger) -> dict[str, PodCounters]:
        """The kubelet's counters for each Pod on a node; read afresh where a restart or a
        deletion is about to be recorded (the failures before it belong to the same write), or
        where the node was not read yet. Nothing else waits for a kubelet (a hung one takes the
        read's whole timeout): a new Pod's first probes come with the next poll."""
        fresh: set[str] = set()
        for pod in pods:
            if not pod.node_name:
                continue
            entry = ledger.pods.get(pod.uid)
            recorded = entry.container(CONTAINER_NAME).restarts if entry else 0
            if (
                self.counters.latest(pod.node_name) is None
                or pod.restart_count > recorded
                or ((pod.deleting or pod.gone) and (entry is None or not entry.final))
            ):
                fresh.add(pod.node_name)
        await asyncio.gather(*(self.counters.refresh(node) for node in fresh))
        return {p.uid: self.counters.pod(p.uid, p.node_name) for p in pods if p.node_name}

    # -- the loop --------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._inform(informer), name=f"informer {informer.source.name}")
            for informer in self.caches.informers
        ]
        self._tasks += [
            asyncio.create_task(self._work(), name=f"reconciler-{n}")
            for n in range(self.worker_count)
        ]
        self._tasks.append(asyncio.create_task(self._poll(), name="kubelet-counters"))

    async def _inform(self, informer: Informer[Any]) -> None:
        await self.logged_in.wait()
        await informer.run()

    async def _poll(self) -> None:
        await self.caches.wait_synced()
        await self.counters.run(self._nodes)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _work(self) -> None:
        """Take a HealthDemo, reconcile it, and put it back when it asked to be (or, after a
        failure, after a growing delay: its next status is built on a fresh read, since a
        failed write may have landed). The only place that requeues."""
        await self.caches.wait_synced()
        while True:
            uid = await self.queue.get()
            await self.active.wait()
            if uid not in self.healthdemos:
                # Its Pod or an Event came first (Kopf may still be listing HealthDemos): its
                # own event brings it; a deleted one was forgotten when Kopf said so.
                self.queue.done(uid)
                continue
            started = time.monotonic()
            try:
                again = await self.reconcile(uid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.errors += 1
                tracked = self.tracked.setdefault(uid, Tracked())
                again = RETRY_DELAYS[min(tracked.failures, len(RETRY_DELAYS) - 1)]
                tracked.failures += 1
                tracked.stale = True
                logger.warning(
                    "reconciling %s failed (%s); retrying in %s s", uid, one_line(exc), again
                )
            else:
                if uid in self.tracked:
                    self.tracked[uid].failures = 0
            self.on_reconciled(time.monotonic() - started)
            self.queue.done(uid)
            if again is not None:
                self.queue.add(uid, again)
            if not self.queue and self.stats.reconciles - self._trimmed_at >= memory.BURST:
                self._trimmed_at = self.stats.reconciles
                # A burst is over: its peak need not stay resident.
                asyncio.get_running_loop().call_later(memory.AFTER_BURST_S, memory.give_back)
            # A reconcile that needed no request never suspended: let the watches and the
            # liveness endpoint run before the next one.
            await asyncio.sleep(0)

    async def reconcile(self, uid: str) -> float | None:
        """Observe → ensure the Pod → record → write the status once (if it changed).
        Returns when to look again (seconds), or None: when something changes."""
        healthdemo = self.healthdemos.get(uid)
        if healthdemo is None:
            return None
        self.stats.reconciles += 1
        tracked = self.tracked.setdefault(uid, Tracked())
        pods, events = self._observed(uid, tracked)
        # The Ready states seen so far, taken with `pods` before any await: a state the watch
        # brings while this reconcile waits (the kubelet, the traffic client) is newer than
        # `pods`, and followed by that older view it would make a spell out of service that
        # never was. It waits for the next reconcile instead.
        ready_seen = {pod: list(states) for pod, states in tracked.ready_seen.items()}
        baseline = await self._baseline(uid, tracked, healthdemo, events)
        if baseline is None:
            self.healthdemo_deleted(uid)  # deleted meanwhile
            return None
        acted, again = await self._ensure_pod(tracked, healthdemo, pods)
        if acted:
            return again  # a Pod was created or deleted: its watch event brings us back
        await self._ensure_service(tracked, healthdemo)
        client = await self._ensure_traffic(healthdemo, pods)
        reading = await asyncio.to_thread(traffic_reader.read, client) if client else None
        recording = record(
            previous=baseline.status,
            ledger=baseline.ledger.copy(),
            spec=healthdemo.spec,
            generation=healthdemo.generation,
            pod_name=healthdemo.pod_name,
            pods=pods,
            events=events,
            counters=await self._counters(pods, baseline.ledger),
            ready_seen=ready_seen,
            backoffs={p.node_name: self.counters.policy(p.node_name) for p in pods if p.node_name},
            traffic=reading,
            problem=tracked.problem,
            now=self.clock(),
        )
        if not await self._write(tracked, baseline, healthdemo, recording):
            return AT_ONCE  # someone else wrote: again, from a fresh read
        # A deleted Pod is forgotten once a write recorded it as gone (its counts final, or the
        # gap said); one whose deletion came while this write was on its way waits for the next.
        for pod in pods:
            entry = recording.ledger.pods.get(pod.uid)
            if pod.gone and (entry is None or entry.final):
                tracked.departed.pop(pod.uid, None)
        for pod_uid, recorded in ready_seen.items():  # newer states may have come meanwhile
            del tracked.ready_seen[pod_uid][: len(recorded)]
            if not tracked.ready_seen[pod_uid]:
                del tracked.ready_seen[pod_uid]
        later = recording.recheck_after
        if later is None:
            later = TAKEN_RECHECK_SECONDS if tracked.squatted else again
        if client is not None:  # its counts move without any watch event
            later = min(later or TRAFFIC_READ_SECONDS, TRAFFIC_READ_SECONDS)
        return later

    def _observed(self, uid: str, tracked: Tracked) -> tuple[list[PodView], list[EventView]]:
        pods: dict[str, PodView] = dict(tracked.departed)
        pods.update({p.uid: p for p in self.caches.pods_of(uid)})
        events: list[EventView] = []
        for pod_uid in pods:
            events.extend(self.caches.events_of(pod_uid))
        return list(pods.values()), events

    async def _baseline(
        self, uid: str, tracked: Tracked, healthdemo: HealthDemo, events: list[EventView]
    ) -> Baseline | None:
        """The status to build on: ours if we wrote it, else the server's."""
        if tracked.stale:
            fresh = await asyncio.to_thread(
                self.kube.read_healthdemo, healthdemo.namespace, healthdemo.name
            )
            if fresh is None or fresh["metadata"]["uid"] != uid:
                return None
            tracked.baseline, tracked.stale = Baseline.of(HealthDemo.of(fresh), events), False
        elif tracked.baseline is None:
            tracked.baseline = Baseline.of(healthdemo, events)
        elif healthdemo.status == tracked.baseline.status:
            # The watch has caught up with our write; a newer version (a label, an annotation)
            # changed nothing we own, so build on it instead of failing the precondition.
            tracked.baseline.resource_version = healthdemo.resource_version
        return tracked.baseline

    async def _ensure_pod(
        self, tracked: Tracked, healthdemo: HealthDemo, pods: list[PodView]
    ) -> tuple[bool, float | None]:
        """One step towards the Pod the spec asks for: whether a Pod was created or deleted,
        and when to look again."""
        step = lifecycle.plan(healthdemo, pods)
        if step.action is Action.INVALID:
            # No retry storm: nothing is tried again until the user edits the spec.
            tracked.problem, tracked.squatted = Problem("InvalidSpec", step.message), False
            return False, None
        if step.action in (Action.KEEP, Action.WAIT):
            tracked.problem, tracked.squatted = None, False
            return False, GOING_RECHECK_SECONDS if step.action is Action.WAIT else None
        if step.action is Action.RESIZE and step.pod is not None:
            if await asyncio.to_thread(lifecycle.resize, self.kube, healthdemo, step.pod):
                tracked.problem = None
                await self._post(healthdemo, [Notice("Normal", "ResizingPod", step.message)])
                return False, None
            step = lifecycle.Plan(
                Action.REPLACE,
                step.pod,
                f"the API server refused to resize Pod {step.pod.name} in place: it is replaced",
            )
        if step.action is Action.MARK and step.pod is not None:
            await asyncio.to_thread(lifecycle.mark, self.kube, healthdemo, step.pod)
            tracked.problem = None
            return False, None
        if step.action is Action.REMOVE and step.pod is not None:
            if step.pod.node_name:  # its counts are final once it is deleted: read them first
                await self.counters.refresh(step.pod.node_name)
            await asyncio.to_thread(lifecycle.replace, self.kube, healthdemo, step.pod)
            await self._post(healthdemo, [Notice("Normal", "RemovingPod", step.message)])
            return True, None
        if step.action is Action.REPLACE and step.pod is not None:
            if step.pod.node_name:  # its counts are final once it is deleted: read them first
                await self.counters.refresh(step.pod.node_name)
            await asyncio.to_thread(lifecycle.replace, self.kube, healthdemo, step.pod)
            tracked.problem = None
            await self._post(healthdemo, [Notice("Normal", "ReplacingPod", step.message)])
            return True, None
        if tracked.closing:
            return False, None
        if tracked.unsupported and tracked.unsupported[0] == healthdemo.generation:
            tracked.problem = Problem("FeatureUnavailable", tracked.unsupported[1])
            return False, None
        result = await asyncio.to_thread(
            lifecycle.create, self.kube, healthdemo, step.replica, look_first=tracked.squatted
        )
        tracked.closing = result.outcome is Outcome.CLOSING
        tracked.squatted = result.outcome is Outcome.TAKEN
        tracked.problem = Problem("PodNameTaken", result.message) if tracked.squatted else None
        if result.outcome is Outcome.UNSUPPORTED:
            tracked.unsupported = (healthdemo.generation, result.message)
            tracked.problem = Problem("FeatureUnavailable", result.message)
        logger.info("%s/%s: %s", healthdemo.namespace, healthdemo.name, result.message)
        return result.outcome is Outcome.CREATED, None

    async def _ensure_service(self, tracked: Tracked, healthdemo: HealthDemo) -> None:
        """The Service in front of the Pods: created once when the watch shows none (a Service
        that is not ours holding the name is said once, in an Event)."""
        if healthdemo.problems or tracked.closing:
            return
        if self.caches.service_of(healthdemo.uid) is not None:
            tracked.service_taken = False
            return
        if tracked.service_taken:
            return
        service = podspec.build_service(healthdemo)
        try:
            await asyncio.to_thread(self.kube.create_service, service)
        except ApiException as exc:
            if exc.status != 409:
                raise
            tracked.service_taken = True  # ours would be in the watch: someone else's
            name = service["metadata"]["name"]
            message = (
                f"a Service named {name} already exists and is not owned by this HealthDemo: "
                "its Pods run, but without the Service; delete or rename that Service"
            )
            await self._post(healthdemo, [Notice("Warning", "ServiceNameTaken", message)])
            return
        logger.info("%s/%s: created Service %s", healthdemo.namespace, healthdemo.name,
                    service["metadata"]["name"])  # fmt: skip

    async def _ensure_traffic(
        self, healthdemo: HealthDemo, pods: list[PodView]
    ) -> ClientView | None:
        """The traffic client, as spec.traffic asks: made once the Service has its address and
        every replica is ready (traffic before that measures start-up, not the lesson), made
        again when the spec changes it, deleted without spec.traffic. Returns the client whose
        counts to read: also one being deleted, until it is gone (it serves its final count)."""
        client = self.caches.client_of(healthdemo.uid)
        service = self.caches.service_of(healthdemo.uid)
        wanted = "traffic" in healthdemo.spec and not healthdemo.problems
        if client is not None and client.deleting:
            return client  # it serves its final count until read (or its linger is over)
        if not wanted:
            if client is not None:
                await asyncio.to_thread(self.kube.delete_pod, healthdemo.namespace,
                                        client.name, client.uid)  # fmt: skip
                return client  # its last counts are read before it goes
            return None
        if service is None or service.cluster_ip is None:
            return client  # the Service is being made (again): a running client keeps counting
        built = trafficpod.build(healthdemo, service.cluster_ip)
        if client is None:
            ready = [p for p in live_pods(pods) if p.ready and p.replica < healthdemo.replicas]
            if len(ready) < healthdemo.replicas:
                return None  # a Pod's readiness change brings us back
            try:
                await asyncio.to_thread(self.kube.create_pod, built)
            except ApiException as exc:
                if exc.status != 409:
                    raise
            return None
        if client.digest != built["metadata"]["annotations"][names.ANNOTATION_DIGEST]:
            await asyncio.to_thread(self.kube.delete_pod, healthdemo.namespace, client.name,
                                    client.uid)  # fmt: skip
        return client

    async def _write(
        self, tracked: Tracked, baseline: Baseline, healthdemo: HealthDemo, recording: Recording
    ) -> bool:
        """The one status write, guarded by resourceVersion; False after a conflict (to be
        reconciled again at once, from a fresh read)."""
        if recording.status == baseline.status:
            return True
        try:
            version = await asyncio.to_thread(
                self.kube.replace_status,
                healthdemo.namespace,
                healthdemo.name,
                recording.status,
                baseline.resource_version,
            )
        except ApiException as exc:
            if exc.status in (409, 422):  # someone else wrote: start from a fresh read
                self.stats.conflicts += 1
                tracked.stale = True
                return False
            raise
        self.stats.patches += 1
        tracked.baseline = Baseline(recording.status, recording.ledger, version)
        await self._post(healthdemo, recording.notices)
        return True

    async def _post(self, healthdemo: HealthDemo, notices: Iterable[Notice]) -> None:
        for notice in notices:
            log = logger.warning if notice.type == "Warning" else logger.info
            log(story_line(healthdemo.namespace, healthdemo.name, notice))
            try:
                await asyncio.to_thread(
                    self.kube.post_event, healthdemo, notice.type, notice.reason, notice.message
                )
            except ApiException as exc:  # an Event is a courtesy: the status already says it
                logger.warning("could not post Event %s: %s", notice.reason, one_line(exc))
