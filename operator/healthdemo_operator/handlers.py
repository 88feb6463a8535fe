"""Kopf handlers: read them top to bottom like Kopf's own examples.

1. Settings and login; the server filters what is watched.
2. Indexes: HealthDemos by UID, our Pods by owner UID, kubelet Events by Pod UID (two streams:
   about our container, and about a Pod as a whole). Kopf fills them from the initial listing
   before any other handler runs, so the controller never works from a half-listed cache.
3. Watch handlers: any change to a HealthDemo (created, resumed, spec changed), its Pod or its
   Pod's Events queues the HealthDemo for the controller (`controller.Controller`), whose one
   reconcile creates, replaces or repairs the Pod and writes the status.
4. Metrics: Prometheus reads the statuses' exact totals through the operator (`metrics`).

Kopf keeps no bookkeeping on our objects (no progress or diff-base annotations): a reconcile
compares the spec's generation with the one the Pod was built from, so there is nothing to
remember between runs but the status itself. Handlers and indexers are async: they share the
event loop with the controller, and Kopf runs a plain `def` in its thread pool — a thread hop
for every watch event (and a pool that never shrinks).
"""

from __future__ import annotations

import functools
import random
from typing import Any

import kopf

from healthdemo_operator import metrics, names
from healthdemo_operator.controller import Controller, Joined
from healthdemo_operator.kube import Kube
from healthdemo_operator.nodiffbase import NoDiffBase
from healthdemo_operator.observations import KUBELET, event_view, involved, owner_uid, pod_view
from healthdemo_operator.settings import METRICS_PORT, SettingError, Settings

HEALTHDEMOS = (names.GROUP, names.VERSION, names.PLURAL)
OUR_PODS = {names.LABEL_MANAGED_BY: names.COMPONENT}
OUR_PODS_SELECTOR = f"{names.LABEL_MANAGED_BY}={names.COMPONENT}"
# The kubelet's Events about a Pod, in two server-filtered streams that together miss none of
# them (both count against the Pod's Event budget): about our container — probe failures,
# kills, restarts; only a container called "webapp" passes, so other workloads' Events never
# leave the API server — and about a Pod as a whole (no fieldPath: a sandbox re-created, a
# failed mount), rare in any cluster. Field selectors cannot OR, so the second stream is the
# same Events through their newer API (events.k8s.io), which has its own.
CONTAINER_EVENTS = ("v1", "events")
CONTAINER_EVENTS_SELECTOR = (
    f"involvedObject.kind=Pod,source={KUBELET},"
    f"involvedObject.fieldPath=spec.containers{{{names.CONTAINER_NAME}}}"
)
POD_EVENTS = ("events.k8s.io", "v1", "events")
POD_EVENTS_SELECTOR = f"regarding.kind=Pod,regarding.fieldPath=,reportingController={KUBELET}"


# -- 1. settings and login -------------------------------------------------------------------


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Ours first: a bad value stops the operator here, with one line naming it.
    try:
        memo.settings = Settings.from_env()
    except SettingError as exc:
        raise kopf.PermanentError(str(exc)) from None
    # Only what we need leaves the API server: our Pods, and the kubelet's Events about Pods
    # (the rest of a busy cluster's Events never reaches Python).
    settings.watching.label_selectors["v1", "pods"] = OUR_PODS_SELECTOR
    settings.watching.field_selectors[CONTAINER_EVENTS] = CONTAINER_EVENTS_SELECTOR
    settings.watching.field_selectors[POD_EVENTS] = POD_EVENTS_SELECTOR
    # We post our own Events (kube.post_event), with reasons a user can act on; Kopf's automatic
    # Events from its log lines would be a second, noisier channel.
    settings.posting.enabled = False
    # No on.create/on.update handlers: Kopf's per-event diff of each body is never read.
    settings.persistence.diffbase_storage = NoDiffBase()
    # Kopf keeps a worker per object for this long after its last event; a storm of Events
    # (each one a new object) would otherwise keep thousands of idle workers alive.
    settings.queueing.idle_timeout = 1.0
    # A watch stream can die silently: ask the server to end it every 5 minutes, and give up on
    # one that has been quiet for longer than that.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    # Our resources are fixed at start-up: no need to list CRDs or namespaces (and no RBAC for it).
    settings.scanning.disabled = True
    # Several replicas (kopf run --peering=...): the one with the highest priority acts; equal
    # priorities would pause them all, so each replica draws its own. A stand-by takes over when
    # the active one has not renewed its keep-alive for `lifetime` seconds.
    if settings.peering.priority == 0:
        settings.peering.priority = random.randint(1, 32767)  # noqa: S311 - not for security
    settings.peering.lifetime = memo.settings.peering_lifetime
    # Kopf's per-object workers stay unlimited (its default): a cap would lower peak memory
    # after a burst of creations, but deadlocks start-up when more objects than the cap exist,
    # since every worker then waits for the index pre-population that needs a free worker.


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Configure the official client and Kopf with the same credentials."""
    info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
    return info


# -- 2. indexes ------------------------------------------------------------------------------


@kopf.index(*HEALTHDEMOS)
async def healthdemos(body: kopf.Body, uid: str, **_: Any) -> dict[str, dict[str, Any]]:
    """Just what the recorder needs of each HealthDemo: a new dict on every event, never
    changed in place, so that a metrics scrape can read the statuses from another thread."""
    meta = body["metadata"]
    slim = {
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": uid,
            "generation": meta.get("generation", 1),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }
    return {uid: slim}


@kopf.index("v1", "pods", labels=OUR_PODS)
async def pods_by_owner(body: kopf.Body, **_: Any) -> dict[str, Any] | None:
    view = pod_view(body)
    return {view.owner_uid: view} if view.owner_uid else None


@kopf.index("v1", "pods", labels=OUR_PODS)
async def owner_by_pod(body: kopf.Body, uid: str, **_: Any) -> dict[str, str] | None:
    """Pod UID → HealthDemo UID, so an Event finds its HealthDemo without a scan."""
    owner = owner_uid(body.get("metadata") or {})
    return {uid: owner} if owner else None


def _kubelet_event_about_our_pod(body: kopf.Body, **_: Any) -> bool:
    """The server sends only the kubelet's Events about Pods; the name says whether the Pod is
    ours. Every one of them is kept (as a slim view): they all count against its Event budget."""
    return str(involved(body).get("name", "")).endswith(names.POD_SUFFIX)


@kopf.index(*CONTAINER_EVENTS, when=_kubelet_event_about_our_pod)
async def container_events_by_pod(body: kopf.Body, **_: Any) -> dict[str, Any]:
    view = event_view(body)
    return {view.pod_uid: view}


@kopf.index(*POD_EVENTS, when=_kubelet_event_about_our_pod)
async def pod_events_by_pod(body: kopf.Body, **_: Any) -> dict[str, Any]:
    view = event_view(body)
    return {view.pod_uid: view}


@kopf.on.startup()
async def start_controller(memo: kopf.Memo, **indexes: Any) -> None:
    """Kopf hands the (still empty) indexes to startup handlers; the controller keeps them."""
    memo.metrics = metrics.OperatorMetrics()
    memo.controller = Controller(
        healthdemos=indexes["healthdemos"],
        pods=indexes["pods_by_owner"],
        events=Joined(indexes["container_events_by_pod"], indexes["pod_events_by_pod"]),
        kube_factory=functools.partial(Kube, kubelet_tls_verify=memo.settings.kubelet_tls_verify),
        poll_seconds=memo.settings.kubelet_poll_seconds,
        on_reconciled=memo.metrics.reconcile_seconds.observe,
    )
    await memo.controller.start()


@kopf.on.cleanup()
async def stop_controller(memo: kopf.Memo, **_: Any) -> None:
    await memo.controller.stop()


@kopf.on.probe(id="recorder")
async def recorder_stats(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Shown at the --liveness endpoint: how busy the controller is."""
    controller: Controller = memo.controller
    stats = controller.stats
    return {
        "queued": len(controller.queue),
        "reconciles": stats.reconciles,
        "patches": stats.patches,
        "conflicts": stats.conflicts,
        "errors": stats.errors,
    }


# -- 3. watching: note the change, let the controller do the work ------------------------------


@kopf.on.event(*HEALTHDEMOS)
async def healthdemo_changed(type: str | None, uid: str, memo: kopf.Memo, **_: Any) -> None:
    controller: Controller = memo.controller
    if type == "DELETED":
        controller.forget(uid)  # its Pod goes by garbage collection (ownerReference)
    else:
        # At once: a new HealthDemo waits for its Pod (the coalescing window is for bursts of
        # Pod and Event updates, which a HealthDemo does not have).
        controller.enqueue(uid, delay=0)


@kopf.on.event("v1", "pods", labels=OUR_PODS)
async def pod_changed(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    controller: Controller = memo.controller
    view = pod_view(body)
    if type == "DELETED":
        # Its last status still counts; the reconcile also brings a missing Pod back.
        controller.pod_deleted(view)
    else:
        controller.pod_changed(view)


@kopf.on.event(*CONTAINER_EVENTS, when=_kubelet_event_about_our_pod)
@kopf.on.event(*POD_EVENTS, when=_kubelet_event_about_our_pod)
async def kubelet_event(body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    controller: Controller = memo.controller
    owner_by_pod: kopf.Index[str, str] = kwargs["owner_by_pod"]
    pod_uid = str(involved(body).get("uid", ""))
    for owner in owner_by_pod.get(pod_uid, ()):
        controller.enqueue(owner)


# -- 4. metrics: Prometheus reads the statuses through us --------------------------------------


@kopf.on.startup()
async def serve_metrics(memo: kopf.Memo, **indexes: Any) -> None:
    """/metrics on HEALTHDEMO_METRICS_PORT (9090; 0 = none). Each scrape reads the totals from
    the statuses in the index: exact, and the same after an operator restart."""
    memo.metrics_server = None
    controller: Controller = memo.controller
    healthdemos = indexes["healthdemos"]
    port = memo.settings.metrics_port
    try:
        if port:
            memo.metrics_server = await metrics.serve(
                port,
                lambda: memo.metrics.scrape(
                    healthdemos,
                    queue_depth=len(controller.queue),
                    reconcile_errors=controller.stats.errors,
                ),
            )
    except OSError as exc:  # no retries: a taken port does not go away
        raise kopf.PermanentError(
            f"cannot serve metrics on port {port} ({exc}): set {METRICS_PORT} to a free "
            "port, or to 0 for no metrics"
        ) from exc


@kopf.on.cleanup()
async def stop_metrics(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("metrics_server") is not None:
        await memo.metrics_server.cleanup()
