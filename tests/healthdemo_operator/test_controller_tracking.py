"""What the controller keeps about Pods between reconciles, without any server: a deleted
HealthDemo's Pod, deleted after it by garbage collection, leaves nothing tracked and no node to
poll."""

from __future__ import annotations

import asyncio

from healthdemo_operator.controller import Controller
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.observations import pod_view

from .kubelet_data import NODE, OWNER_UID, pod
from .test_podspec import healthdemo


def test_a_pod_that_departs_after_its_healthdemo_was_deleted_is_not_tracked() -> None:
    async def scenario() -> Controller:
        controller = Controller()
        view = pod_view(pod())
        controller.healthdemo_deleted(OWNER_UID)
        controller.caches._pod_changed(view, None)  # the informer saw it go
        return controller

    controller = asyncio.run(scenario())
    assert OWNER_UID not in controller.tracked
    assert controller._nodes() == set()
    assert len(controller.queue) == 0


def test_a_pod_that_departs_before_its_healthdemo_is_known_is_kept_for_it() -> None:
    """At start-up the Pods may be listed before Kopf delivers their HealthDemo: a Pod deleted
    then keeps its last status until its restarts are recorded."""

    async def scenario() -> Controller:
        controller = Controller()
        controller.caches._pod_changed(pod_view(pod()), None)
        return controller

    controller = asyncio.run(scenario())
    assert set(controller.tracked[OWNER_UID].departed) == {pod()["metadata"]["uid"]}
    assert controller._nodes() == {NODE}


def test_a_known_healthdemo_is_not_taken_for_a_deleted_one() -> None:
    async def scenario() -> Controller:
        controller = Controller()
        body = healthdemo()
        body["metadata"]["uid"] = OWNER_UID
        controller.healthdemo_changed(HealthDemo.of(body))
        controller.caches._pod_changed(None, pod_view(pod()))
        return controller

    controller = asyncio.run(scenario())
    assert controller.tracked[OWNER_UID].ready_seen
