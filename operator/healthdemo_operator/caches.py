"""What the controller reads about the cluster besides the HealthDemos: our Pods and the kubelet's
Events about them, each kept by its own informer (listed once, then watched), with the two
lookups a reconcile makes — a HealthDemo's Pods, a Pod's Events — kept as they change.

Only what the API server lets through is seen: Pods with our managed-by label, and the kubelet's
Events about a Pod's `webapp` container (`CONTAINER_EVENTS`), its sidecar (`SIDECAR_EVENTS`) or
about a Pod as a whole (`POD_EVENTS`, the same Events through events.k8s.io, which has its own
field selectors: field selectors cannot OR). All count against the kubelet's Event budget of a
Pod, so all are kept. And the Services in front of the Pods (ours by the same label), so that
a reconcile knows one exists without asking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from healthdemo_operator import names
from healthdemo_operator.apisession import ApiSession
from healthdemo_operator.informer import Informer, Source
from healthdemo_operator.observations import (
    KUBELET,
    EventView,
    PodView,
    ServiceView,
    event_view,
    involved,
    pod_view,
    service_view,
)
from healthdemo_operator.traffic import pod as trafficpod

PODS = Source(
    "pods",
    "/api/v1/pods",
    {"labelSelector": f"{names.LABEL_MANAGED_BY}={names.COMPONENT},!{trafficpod.LABEL}"},
)
TRAFFIC_PODS = Source(
    "traffic pods",
    "/api/v1/pods",
    {"labelSelector": f"{names.LABEL_MANAGED_BY}={names.COMPONENT},{trafficpod.LABEL}"},
)
CONTAINER_EVENTS = Source(
    "container events",
    "/api/v1/events",
    {
        "fieldSelector": f"involvedObject.kind=Pod,source={KUBELET},"
        f"involvedObject.fieldPath=spec.containers{{{names.CONTAINER_NAME}}}"
    },
)
SIDECAR_EVENTS = Source(
    "sidecar events",
    "/api/v1/events",
    {
        "fieldSelector": f"involvedObject.kind=Pod,source={KUBELET},"
        f"involvedObject.fieldPath=spec.initContainers{{{names.SIDECAR_NAME}}}"
    },
)
SERVICES = Source(
    "services",
    "/api/v1/services",
    {"labelSelector": f"{names.LABEL_MANAGED_BY}={names.COMPONENT}"},
)
POD_EVENTS = Source(
    "pod events",
    "/apis/events.k8s.io/v1/events",
    {"fieldSelector": f"regarding.kind=Pod,regarding.fieldPath=,reportingController={KUBELET}"},
)


def our_pod(body: Mapping[str, Any]) -> PodView | None:
    view = pod_view(body)
    return view if view.owner_uid else None


def our_service(body: Mapping[str, Any]) -> ServiceView | None:
    view = service_view(body)
    return view if view.owner_uid else None


def our_client(body: Mapping[str, Any]) -> trafficpod.ClientView | None:
    view = trafficpod.client_view(body)
    return view if view.owner_uid else None


def about_our_pod(body: Mapping[str, Any]) -> EventView | None:
    """The server sent only the kubelet's Events about Pods; the name says whether the Pod can
    be ours (an Event may arrive before its Pod does, so it is kept by the Pod's UID)."""
    if not names.could_be_ours(str(involved(body).get("name", ""))):
        return None
    return event_view(body)


class Caches:
    def __init__(
        self,
        session: ApiSession,
        *,
        on_pod: Callable[[PodView | None, PodView | None], None],
        on_event: Callable[[EventView], None],
        on_service: Callable[[ServiceView], None] = lambda service: None,
        on_owner: Callable[[str], None] = lambda owner_uid: None,
    ) -> None:
        self._on_owner = on_owner  # something of a HealthDemo's changed (its traffic client)
        self._on_pod, self._on_event, self._on_service = on_pod, on_event, on_service
        self.pods_by_owner: dict[str, dict[str, PodView]] = {}
        self.events_by_pod: dict[str, dict[str, EventView]] = {}
        self.services_by_owner: dict[str, ServiceView] = {}
        self.clients_by_owner: dict[str, dict[str, trafficpod.ClientView]] = {}
        self.pods = Informer(PODS, session, parse=our_pod, on_change=self._pod_changed)
        self.services = Informer(
            SERVICES, session, parse=our_service, on_change=self._service_changed
        )
        self.clients = Informer(
            TRAFFIC_PODS, session, parse=our_client, on_change=self._client_changed
        )
        self.event_informers = [
            Informer(source, session, parse=about_our_pod, on_change=self._event_changed)
            for source in (CONTAINER_EVENTS, SIDECAR_EVENTS, POD_EVENTS)
        ]

    @property
    def informers(self) -> list[Informer[Any]]:
        return [self.pods, self.services, self.clients, *self.event_informers]

    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self.informers)

    async def wait_synced(self) -> None:
        await asyncio.gather(*(informer.synced.wait() for informer in self.informers))

    def pods_of(self, owner_uid: str) -> Iterable[PodView]:
        return self.pods_by_owner.get(owner_uid, {}).values()

    def events_of(self, pod_uid: str) -> Iterable[EventView]:
        return self.events_by_pod.get(pod_uid, {}).values()

    def service_of(self, owner_uid: str) -> ServiceView | None:
        return self.services_by_owner.get(owner_uid)

    def client_of(self, owner_uid: str) -> trafficpod.ClientView | None:
        """The HealthDemo's traffic client: the live one if there is one."""
        found = self.clients_by_owner.get(owner_uid, {}).values()
        return min(found, key=lambda c: c.deleting, default=None)

    def owner_of(self, pod_uid: str) -> str | None:
        pod = self.pods.items.get(pod_uid)
        return pod.owner_uid if pod else None

    def _pod_changed(self, before: PodView | None, after: PodView | None) -> None:
        old = before.owner_uid if before else None
        if before is not None and old is not None and (after is None or after.owner_uid != old):
            owned = self.pods_by_owner.get(old, {})
            owned.pop(before.uid, None)
            if not owned:
                self.pods_by_owner.pop(old, None)
        if after is not None and after.owner_uid is not None:
            self.pods_by_owner.setdefault(after.owner_uid, {})[after.uid] = after
        # A deleted Pod's Events stay until the API server expires them (1 h): its last
        # restarts may still be recorded from them.
        self._on_pod(before, after)

    def _service_changed(self, before: ServiceView | None, after: ServiceView | None) -> None:
        if before is not None and before.owner_uid is not None:
            self.services_by_owner.pop(before.owner_uid, None)
        if after is not None and after.owner_uid is not None:
            self.services_by_owner[after.owner_uid] = after
        view = after or before
        if view is not None:
            self._on_service(view)

    def _client_changed(
        self, before: trafficpod.ClientView | None, after: trafficpod.ClientView | None
    ) -> None:
        if before is not None and before.owner_uid is not None:
            self.clients_by_owner.get(before.owner_uid, {}).pop(before.uid, None)
        if after is not None and after.owner_uid is not None:
            self.clients_by_owner.setdefault(after.owner_uid, {})[after.uid] = after
        view = after or before
        if view is not None and view.owner_uid is not None:
            self._on_owner(view.owner_uid)

    def _event_changed(self, before: EventView | None, after: EventView | None) -> None:
        if after is None:
            if before is not None:  # expired (1 h TTL): what it counted stays in the ledger
                events = self.events_by_pod.get(before.pod_uid, {})
                events.pop(before.uid, None)
                if not events:
                    self.events_by_pod.pop(before.pod_uid, None)
            return
        self.events_by_pod.setdefault(after.pod_uid, {})[after.uid] = after
        self._on_event(after)
