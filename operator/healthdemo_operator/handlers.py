"""Kopf handlers: read them top to bottom like Kopf's own examples.

1. Settings and login.
2. The controller (`controller.Controller`): started with the operator, it lists and watches our
   Pods and the kubelet's Events itself (`caches.py`), and reconciles one HealthDemo at a time.
3. Watching HealthDemos: Kopf delivers each version; the controller keeps it, parsed once
   (`healthdemo.HealthDemo`), and reconciles it — creates, replaces or repairs its Pod and writes
   its status.
4. Metrics: Prometheus reads the statuses' exact totals through the operator (`metrics`).

No `@kopf.index`: Kopf would fill each index from its initial listing before any handler runs,
with a toggle per listed object, and every dropped toggle wakes every waiting worker — quadratic
in the number of objects at each operator start. The controller's informers list once instead.
Kopf keeps no bookkeeping on our objects (no progress or diff-base annotations): a reconcile
compares the spec's generation with the one the Pod was built from, so there is nothing to
remember between runs but the status itself. Handlers are async: they share the event loop with
the controller, and Kopf runs a plain `def` in its thread pool — a thread hop for every event.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import kopf

from healthdemo_operator import informer, logs, metrics, names
from healthdemo_operator.controller import Controller
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.kube import Kube
from healthdemo_operator.nodiffbase import NoDiffBase
from healthdemo_operator.peering_gate import PeeringGate
from healthdemo_operator.settings import METRICS_PORT, SettingError, Settings

HEALTHDEMOS = (names.GROUP, names.VERSION, names.PLURAL)


# -- 1. settings and login -------------------------------------------------------------------


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # One log line per thing a user cares about; Kopf's per-handler lines with --verbose.
    logs.quiet_kopf()
    # Ours first: a bad value stops the operator here, with one line naming it.
    try:
        memo.settings = Settings.from_env()
    except SettingError as exc:
        raise kopf.PermanentError(str(exc)) from None
    # We post our own Events (kube.post_event), with reasons a user can act on; Kopf's automatic
    # Events from its log lines would be a second, noisier channel.
    settings.posting.enabled = False
    # No on.create/on.update handlers: Kopf's per-event diff of each body is never read.
    settings.persistence.diffbase_storage = NoDiffBase()
    # Kopf keeps a worker per HealthDemo for this long after its last event, holding its last
    # body: after a restart's listing, a thousand of them.
    settings.queueing.idle_timeout = 1.0
    # A watch stream can die silently: ask the server to end it as often as the controller's
    # own watches (informer.py: it sends a bookmark 2 s before), and give up on one quiet for
    # longer: a HealthDemo created meanwhile waits that long at most.
    settings.watching.server_timeout = informer.WATCH_SECONDS
    settings.watching.inactivity_timeout = informer.IDLE_SECONDS
    settings.watching.client_timeout = informer.IDLE_SECONDS + 10
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
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """Configure the official client and Kopf with the same credentials (after the start-up
    handlers: the controller's informers wait for it)."""
    info: kopf.ConnectionInfo | None = kopf.login_via_client(memo=memo, **kwargs)
    memo.controller.logged_in.set()
    return info


# -- 2. the controller -------------------------------------------------------------------


@kopf.on.startup()
async def start_controller(memo: kopf.Memo, **_: Any) -> None:
    memo.metrics = metrics.OperatorMetrics()
    memo.controller = controller = Controller(
        kube_factory=functools.partial(Kube, kubelet_tls_verify=memo.settings.kubelet_tls_verify),
        poll_seconds=memo.settings.kubelet_poll_seconds,
        on_reconciled=memo.metrics.reconcile_seconds.observe,
    )
    memo.peering_gate = PeeringGate(pause=controller.active.clear, resume=controller.active.set)
    memo.peering_gate.install()
    await controller.start()


@kopf.on.cleanup()
async def stop_controller(memo: kopf.Memo, **_: Any) -> None:
    memo.peering_gate.remove()
    await memo.controller.stop()


@kopf.on.probe(id="controller")
async def controller_stats(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Shown at the --liveness endpoint: how busy the controller is."""
    controller: Controller = memo.controller
    stats = controller.stats
    return {
        "queued": len(controller.queue),
        "reconciles": stats.reconciles,
        "patches": stats.patches,
        "conflicts": stats.conflicts,
        "errors": stats.errors,
        "synced": controller.caches.synced(),
        "lists": sum(informer.lists for informer in controller.caches.informers),
        "kubelet_reads": controller.counters.reads,
    }


# -- 3. watching HealthDemos --------------------------------------------------------------


@kopf.on.event(*HEALTHDEMOS)
async def healthdemo_changed(
    type: str | None, body: kopf.Body, uid: str, memo: kopf.Memo, **_: Any
) -> None:
    controller: Controller = memo.controller
    if type == "DELETED":
        controller.healthdemo_deleted(uid)
    else:
        controller.healthdemo_changed(HealthDemo.of(body))


# -- 4. metrics: Prometheus reads the statuses through us --------------------------------------


@kopf.on.startup()
async def serve_metrics(memo: kopf.Memo, **_: Any) -> None:
    """/metrics on HEALTHDEMO_METRICS_PORT (9090; 0 = none). Each scrape reads the totals from
    the statuses the controller holds: exact, and the same after an operator restart."""
    memo.metrics_server = None
    controller: Controller = memo.controller
    port = memo.settings.metrics_port
    try:
        if port:
            memo.metrics_server = await metrics.serve(
                port,
                lambda: memo.metrics.scrape(
                    controller.healthdemos.values(),
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
