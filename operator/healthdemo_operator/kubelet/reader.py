"""Reads the kubelet's probe counters, node by node: the signal that does not run out.

The kubelet posts at most about 25 Events per Pod; its `prober_probe_total` counts every probe.
So every `poll_seconds` the operator reads `/metrics/probes` of each node that runs one of our
Pods (one request per node, authorized by the kubelet as `nodes/metrics` — never the far broader
`nodes/proxy`), and tells the controller which Pods' counts moved. The controller also asks for
a fresh read before it records a restart or a Pod's deletion, so that the failures leading to
it are in the same status write.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import urllib3

from healthdemo_operator import names, settings
from healthdemo_operator.kube import ApiException, Kube, KubeletRefused, one_line
from healthdemo_operator.kubelet import backoff, probe_counters
from healthdemo_operator.kubelet.probe_counters import PodCounters, ProbeCounts, Route

logger = logging.getLogger(__name__)

# A Pod's last known counts are kept this long after its node stopped showing them.
FORGET_AFTER = timedelta(minutes=10)
PATH = "/metrics/probes"
CONFIGZ = "/configz"
CONFIGZ_RETRY = timedelta(minutes=5)  # a node whose configuration could not be read: again then


@dataclass(frozen=True)
class Reading:
    """What one node's kubelet said, and when, and by which route; or why it could not be read."""

    node: str
    at: datetime
    pods: Mapping[str, ProbeCounts] | None  # Pod UID → counts; None when `error`
    error: str | None = None
    route: Route | None = None


def _get(kube: Kube, node: str, endpoint: tuple[str, int] | None, path: str) -> str:
    """One kubelet endpoint: straight from the kubelet at `endpoint`, or (None) through the API
    server's node proxy."""
    return kube.kubelet_get(*endpoint, path) if endpoint else kube.node_proxy_get(node, path)


def _read_counts(kube: Kube, node: str, endpoint: tuple[str, int] | None) -> dict[str, ProbeCounts]:
    """One node's counters, read and parsed in a worker thread: parsing a full node's text
    (110 Pods) takes tens of milliseconds, which the event loop should not wait out."""
    return probe_counters.parse(_get(kube, node, endpoint, PATH), names.CONTAINER_NAME)


def explain(node: str, address: str, exc: Exception) -> str:
    """One line a user can act on."""
    if isinstance(exc, KubeletRefused) and exc.status == 403:
        return (
            f"the kubelet of node {node} refused to show its probe counters: grant `get` on "
            "`nodes/metrics` (deploy/rbac.yaml)"
        )
    if isinstance(exc, KubeletRefused) and exc.status == 401:
        return (
            f"the kubelet of node {node} did not accept the operator's credentials "
            "(kubelet authentication.webhook must be enabled)"
        )
    if isinstance(exc, urllib3.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return (
            f"the kubelet of node {node} ({address}) serves a certificate the cluster CA did not "
            f"sign; where kubelets use self-signed certificates (kind, minikube) set "
            f"{settings.KUBELET_INSECURE_TLS}=true"
        )
    if isinstance(exc, ApiException):
        return f"could not read Node {node}: {exc.status} {exc.reason}"
    return (
        f"cannot reach the kubelet of node {node} at {address} ({type(exc).__name__}), and "
        "this identity may not `get nodes/proxy`, the API server's route to it: an operator "
        "outside the cluster network reads the kubelet's probe counters only as an identity "
        "allowed that (a cluster admin's `kopf run`; the deployed operator never asks for it)"
    )


class KubeletCounters:
    def __init__(
        self,
        kube: Callable[[], Kube],
        *,
        on_change: Callable[[str, set[str] | None], None],
        poll_seconds: float = settings.Settings.kubelet_poll_seconds,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._kube = kube
        # Told (node, Pod UIDs whose counts moved), or (node, None) when every Pod there is
        # concerned: the node became readable, or stopped being.
        self._on_change = on_change
        self.poll_seconds = poll_seconds
        self._clock = clock
        self.readings: dict[str, Reading] = {}
        self._endpoints: dict[str, tuple[str, int]] = {}
        self._inflight: dict[str, asyncio.Task[Reading]] = {}
        self._seen: dict[str, tuple[ProbeCounts, datetime]] = {}  # Pod UID → last counts shown
        self.reads = 0
        # Each node's CrashLoopBackOff schedule, from its kubelet's configuration (read once;
        # again after a kubelet restart, which may bring a new configuration).
        self.policies: dict[str, tuple[backoff.Policy, datetime, float | None]] = {}
        # Each node's route once its kubelet could not be reached directly but the API server's
        # node proxy could be used: from then on that node is read through it.
        self.proxied: set[str] = set()
        self._may_proxy: bool | None = None  # asked the API server once

    def latest(self, node: str | None) -> Reading | None:
        return self.readings.get(node) if node else None

    def pod(self, uid: str, node: str) -> PodCounters:
        """What the kubelet last showed for one Pod, and whether its node can be read now."""
        reading = self.readings.get(node)
        seen = self._seen.get(uid)
        return PodCounters(
            counts=seen[0] if seen else None,
            at=seen[1] if seen else None,
            error=reading.error if reading else None,
            route=reading.route if reading else None,
        )

    async def refresh(self, node: str) -> Reading:
        """A read that starts now (concurrent callers share one request)."""
        task = self._inflight.get(node)
        if task is None:
            task = asyncio.create_task(self._read(node))
            self._inflight[node] = task
            task.add_done_callback(lambda _: self._inflight.pop(node, None))
        return await asyncio.shield(task)

    async def _direct(self, node: str) -> tuple[str, int]:
        endpoint = self._endpoints.get(node)
        if endpoint is None:
            endpoint = await asyncio.to_thread(self._kube().kubelet_endpoint, node)
            self._endpoints[node] = endpoint
        return endpoint

    async def _proxy_allowed(self) -> bool:
        if self._may_proxy is None:
            try:
                allowed = await asyncio.to_thread(self._kube().may, "get", "nodes", "proxy")
            except ApiException:
                return False  # asked again next time
            self._may_proxy = allowed
        return self._may_proxy

    async def _counts(
        self, node: str
    ) -> tuple[dict[str, ProbeCounts], Route, tuple[str, int] | None]:
        """The node's counters by the route that works: the kubelet itself; where it cannot be
        reached (outside the cluster network) or its certificate not verified, the API server's
        node proxy, if this identity may use it. A refusal by the kubelet is no reason to."""
        if node not in self.proxied:
            endpoint = await self._direct(node)
            try:
                pods = await asyncio.to_thread(_read_counts, self._kube(), node, endpoint)
                return pods, "Kubelet", endpoint
            except KubeletRefused:
                raise
            except Exception:
                if not await self._proxy_allowed():
                    raise
            self.proxied.add(node)
            logger.info("node %s: reading its kubelet through the API server's node proxy", node)
        pods = await asyncio.to_thread(_read_counts, self._kube(), node, None)
        return pods, "APIServerProxy", None

    async def _read(self, node: str) -> Reading:
        address = node
        try:
            if node not in self.proxied:
                address = (await self._direct(node))[0]
            pods, route, endpoint = await self._counts(node)
            reading = Reading(node, self._clock(), pods, route=route)
            await self._read_policy(node, endpoint, pods)
        except Exception as exc:
            self._endpoints.pop(node, None)  # the kubelet may have moved: look it up again
            said = explain(node, address, exc)
            if node in self.proxied:
                said = (
                    f"reading the kubelet of node {node} through the API server's node proxy "
                    f"failed: {one_line(exc)}"
                )
            reading = Reading(node, self._clock(), None, said)
            before = self.readings.get(node)
            if before is None or before.error != reading.error:
                logger.warning("%s", reading.error)
        self.reads += 1
        for uid, counts in (reading.pods or {}).items():
            self._seen[uid] = (counts, reading.at)
        self._notify(self.readings.get(node), reading)
        self.readings[node] = reading
        return reading

    def policy(self, node: str | None) -> backoff.Policy:
        """The node's back-off schedule; Kubernetes' defaults (said so) until it is read."""
        known = self.policies.get(node) if node else None
        return known[0] if known else backoff.DEFAULT

    async def _read_policy(
        self, node: str, endpoint: tuple[str, int] | None, pods: Mapping[str, ProbeCounts]
    ) -> None:
        started = next((c.kubelet_started for c in pods.values() if c.kubelet_started), None)
        known = self.policies.get(node)
        if known is not None:
            policy, at, kubelet_started = known
            fresh = started is None or kubelet_started is None or started == kubelet_started
            if fresh and (policy.known or self._clock() - at < CONFIGZ_RETRY):
                return
        try:
            text = await asyncio.to_thread(_get, self._kube(), node, endpoint, CONFIGZ)
            policy = backoff.policy_of(json.loads(text), node)
        except KubeletRefused as exc:
            policy = backoff.unread(
                f"the kubelet of node {node} refused /configz (HTTP {exc.status}): grant `get` "
                "on `nodes/configz` (deploy/rbac.yaml)"
            )
        except Exception as exc:
            policy = backoff.unread(
                f"could not read /configz of node {node} ({type(exc).__name__})"
            )
        self.policies[node] = (policy, self._clock(), started)

    def _notify(self, before: Reading | None, after: Reading) -> None:
        if before is None or before.error != after.error:
            self._on_change(after.node, None)
            return
        old, new = before.pods or {}, after.pods or {}
        moved = {uid for uid in old.keys() | new.keys() if old.get(uid) != new.get(uid)}
        if moved:
            self._on_change(after.node, moved)

    async def run(self, nodes: Callable[[], set[str]]) -> None:
        """Read every node that runs one of our Pods, every `poll_seconds`, until cancelled."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            wanted = nodes()
            for gone in self.readings.keys() - wanted:
                del self.readings[gone]
            await asyncio.gather(*(self.refresh(node) for node in wanted))
            stale = self._clock() - FORGET_AFTER
            for uid in [uid for uid, (_, at) in self._seen.items() if at < stale]:
                del self._seen[uid]
