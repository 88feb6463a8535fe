"""spec.replicas without a server: which Pod each replica is, the steps towards them (one at a
time: create, keep, remove, and a new generation that changes nothing of a Pod only marks it),
and a status whose totals count every Pod while `pods` says what happened to each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from healthdemo_operator import podspec
from healthdemo_operator.caches import about_our_pod
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.lifecycle import Action, plan
from healthdemo_operator.observations import PodView, pod_view
from healthdemo_operator.status.record import record

from .kubelet_data import event, liveness_kill_termination, pod
from .test_podspec import healthdemo


def demo(replicas: int = 2, generation: int = 3, **spec: Any) -> HealthDemo:
    body = healthdemo({"replicas": replicas, **spec})
    body["metadata"]["generation"] = generation
    return HealthDemo.of(body)


def replica_pod(replica: int, generation: int = 3, **spec: Any) -> PodView:
    built = podspec.build_pod(demo(generation=generation, **spec), replica)
    built["metadata"]["uid"] = f"pod-{replica}-{generation}"
    return pod_view(built)


def test_replica_0_keeps_the_name_a_healthdemo_always_had() -> None:
    assert [demo().pod_name_of(r) for r in range(3)] == ["demo-webapp", "demo-webapp-1",
                                                          "demo-webapp-2"]  # fmt: skip
    built = podspec.build_pod(demo(), 1)
    assert built["metadata"]["labels"]["demo.example.com/replica"] == "1"
    assert pod_view(built).replica == 1
    # A Pod from before spec.replicas has no such label: it is replica 0.
    del built["metadata"]["labels"]["demo.example.com/replica"]
    assert pod_view(built).replica == 0


def test_one_step_at_a_time_towards_every_replica() -> None:
    step = plan(demo(), [replica_pod(0)])
    assert (step.action, step.replica) == (Action.CREATE, 1)
    step = plan(demo(), [])
    assert (step.action, step.replica) == (Action.CREATE, 0)
    step = plan(demo(), [replica_pod(0), replica_pod(1)])
    assert step.action is Action.KEEP and step.pod is not None and step.pod.replica == 0


def test_fewer_replicas_remove_the_last_pod_and_keep_the_others() -> None:
    pods = [replica_pod(0, 2), replica_pod(1, 2), replica_pod(2, 2)]
    # Generation 3 asks for 2 replicas: nothing else changed, so replicas 0 and 1 are marked
    # current (no new Pod, no restart) and replica 2 is removed.
    step = plan(demo(2, 3), pods)
    assert (step.action, step.pod and step.pod.replica) == (Action.MARK, 0)
    marked = [replica_pod(0, 3), replica_pod(1, 3), pods[2]]
    step = plan(demo(2, 3), marked)
    assert (step.action, step.pod and step.pod.name) == (Action.REMOVE, "demo-webapp-2")
    assert step.message == "spec.replicas is 2: Pod demo-webapp-2 is removed"
    assert plan(demo(2, 3), marked[:2]).action is Action.KEEP


def test_a_new_generation_that_changes_a_pod_still_replaces_it() -> None:
    older = replica_pod(1, 2, livenessProbe={"periodSeconds": 5})
    step = plan(demo(2, 3), [replica_pod(0, 3), older])
    assert (step.action, step.pod and step.pod.name) == (Action.REPLACE, "demo-webapp-1")


NOW = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)


def live_pod(replica: int, *, restarts: int = 0, ready: bool = True) -> dict[str, Any]:
    raw = pod(uid=f"uid-{replica}", name=podspec.pod_name("demo", replica), restarts=restarts,
              ready=ready, container_id=f"containerd://r{replica}",
              last_terminated=liveness_kill_termination() if restarts else None)  # fmt: skip
    raw["metadata"]["labels"]["demo.example.com/replica"] = str(replica)
    return raw


def run(pods: list[dict[str, Any]], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    return record(
        previous=previous or {},
        spec=podspec.effective({"replicas": 2}),
        generation=1,
        pod_name="demo-webapp",
        pods=[pod_view(p) for p in pods],
        events=[],
        problem=None,
        now=NOW,
    ).status


def test_the_totals_count_every_pod_and_pods_says_whose_they_are() -> None:
    status = run([live_pod(0, restarts=1), live_pod(1, restarts=2, ready=False)])
    assert status["restarts"] == 3
    assert [(i["podName"], i["restart"]) for i in status["history"]] == [
        ("demo-webapp-1", 2), ("demo-webapp-1", 1), ("demo-webapp", 1),
    ]  # fmt: skip
    assert status["pods"] == [
        {"name": "demo-webapp", "replica": 0, "ready": True, "restarts": 1,
         "lastRestartReason": status["history"][2]["reason"]},
        {"name": "demo-webapp-1", "replica": 1, "ready": False, "restarts": 2,
         "lastRestartReason": status["history"][0]["reason"]},
    ]  # fmt: skip
    assert status["ready"] == "1/2"
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False", "PodsNotReady", "1/2 Pods ready: demo-webapp-1 is not ready",
    )  # fmt: skip
    assert status["podName"] == "demo-webapp"  # replica 0's, as before replicas
    # Seen again: nothing counted twice.
    assert run([live_pod(0, restarts=1), live_pod(1, restarts=2)], status)["restarts"] == 3


def test_a_status_from_before_replicas_keeps_its_pod_and_counts() -> None:
    old = live_pod(0, restarts=2)
    del old["metadata"]["labels"]["demo.example.com/replica"]  # an older operator's Pod
    first = run([old])
    before = {k: v for k, v in first.items() if k not in ("ready", "pods")}  # as then written
    status = run([old], before)
    assert status["restarts"] == 2  # the same Pod, counted once
    assert status["pods"][0]["name"] == "demo-webapp" and status["pods"][0]["replica"] == 0
    assert status["ready"] == "1/2"


def test_the_kubelets_events_about_every_replica_are_kept() -> None:
    """The Event informers keep only Events about Pods whose names can be ours: a replica's
    Events count (probe failures, kills) like replica 0's."""
    names = {"demo-webapp": True, "demo-webapp-1": True, "demo-webapp-12": True,
             "demo-webapp-0": False, "demo-webapp-x": False, "demo": False}  # fmt: skip
    for name, kept in names.items():
        raw = event(uid=f"ev-{name}", reason="Unhealthy", message="Liveness probe failed")
        raw["involvedObject"]["name"] = name
        assert (about_our_pod(raw) is not None) is kept, name
