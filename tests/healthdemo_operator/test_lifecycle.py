"""The Pod lifecycle's decisions, from the watched Pods alone: no server, no request."""

from __future__ import annotations

import dataclasses
from typing import Any

from healthdemo_operator import podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.lifecycle import Action, plan
from healthdemo_operator.observations import PodView, pod_view

from .test_podspec import healthdemo


def demo() -> HealthDemo:
    return HealthDemo.of(healthdemo())


def our_pod(generation: int = 3, spec: dict[str, Any] | None = None, **meta: Any) -> PodView:
    """Our Pod as the watch delivers it, built from that generation of the HealthDemo."""
    body = healthdemo(spec)
    body["metadata"]["generation"] = generation
    pod = podspec.build_pod(HealthDemo.of(body))
    pod["metadata"].update({"uid": f"pod-{generation}", **meta})
    return pod_view(pod)


def test_no_pod_is_created() -> None:
    assert plan(demo(), []).action is Action.CREATE


def test_a_current_pod_is_kept_without_a_request() -> None:
    step = plan(demo(), [our_pod(3)])
    assert step.action is Action.KEEP
    assert step.pod is not None and step.pod.uid == "pod-3"


def test_a_pod_without_the_generation_annotation_is_kept() -> None:
    pod = dataclasses.replace(our_pod(3), generation=None)
    assert plan(demo(), [pod]).action is Action.KEEP


def test_a_pod_from_an_older_spec_is_replaced_and_says_why() -> None:
    step = plan(demo(), [our_pod(2, {"livenessProbe": {"periodSeconds": 5}})])
    assert step.action is Action.REPLACE
    assert step.pod is not None and step.pod.uid == "pod-2"
    assert "generation 2 → 3" in step.message
    assert "probes are immutable" in step.message


def test_a_pod_whose_resources_alone_changed_is_resized_in_place() -> None:
    older = our_pod(2, {"resources": {"limits": {"memory": "128Mi"}}})
    step = plan(demo(), [older])
    assert step.action is Action.RESIZE
    assert step.pod is not None and step.pod.uid == "pod-2"
    assert "only the resources changed (generation 2 → 3)" in step.message
    # A Pod an older operator built (no shape) is replaced, as before.
    unshaped = dataclasses.replace(older, shape=None)
    assert plan(demo(), [unshaped]).action is Action.REPLACE


def test_the_resize_patch_carries_every_containers_resources() -> None:
    pod = podspec.build_pod(HealthDemo.of(healthdemo({"sidecar": {}, "resources": {
        "limits": {"memory": "320Mi"}}})))  # fmt: skip
    patch = podspec.resize_patch(pod)
    assert patch["containers"] == [{"name": "webapp", "resources": {"limits": {"memory": "320Mi"}}}]
    assert [c["name"] for c in patch["initContainers"]] == ["sidecar"]


def test_a_terminating_pod_is_waited_for() -> None:
    going = our_pod(2, deletionTimestamp="2026-12-04T10:00:00Z")
    step = plan(demo(), [going])
    assert step.action is Action.WAIT
    assert "demo-webapp" in step.message


def test_a_deleted_pod_is_created_again() -> None:
    gone = dataclasses.replace(our_pod(3), gone=True)
    assert plan(demo(), [gone]).action is Action.CREATE


def test_the_live_pod_wins_over_a_terminating_one() -> None:
    going = our_pod(2, deletionTimestamp="2026-12-04T10:00:00Z")
    step = plan(demo(), [going, our_pod(3)])
    assert step.action is Action.KEEP


def test_an_invalid_spec_makes_no_pod_and_says_what_is_wrong() -> None:
    step = plan(HealthDemo.of(healthdemo({"image": "Bad Image"})), [])
    assert step.action is Action.INVALID
    assert "spec.image 'Bad Image' is not a valid image reference" in step.message
    # Also when an older Pod runs: it is left alone until the spec is fixed.
    assert (
        plan(HealthDemo.of(healthdemo({"image": "Bad Image"})), [our_pod(2)]).action
        is Action.INVALID
    )
