"""Keep exactly one up-to-date Pod per HealthDemo: decide (pure), then act (one API step).

`plan` looks only at what the watch already delivered, so a HealthDemo whose Pod is fine costs
no request at all (an operator restart with 1,000 HealthDemos makes no 1,000 GETs); `create`,
`replace` and `resize` are the only calls that change a Pod, and they never touch one that is not
ours.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from healthdemo_operator import features, names, podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.kube import ApiException, Kube
from healthdemo_operator.observations import PodView, current_pod, live_pods, pod_view


class Action(enum.Enum):
    INVALID = "invalid"  # the spec is wrong in a way the schema cannot catch: no Pod
    KEEP = "keep"  # every live Pod was built from the current generation
    CREATE = "create"  # a replica has no Pod of ours, live or terminating
    REPLACE = "replace"  # a live Pod was built from an older spec: delete it, then create
    RESIZE = "resize"  # only its resources changed: resize it in place (pods/resize)
    MARK = "mark"  # the new generation changed nothing of it (spec.replicas): mark it current
    REMOVE = "remove"  # a replica past spec.replicas: delete it
    WAIT = "wait"  # our old Pod is still terminating: create once it is gone


@dataclass(frozen=True)
class Plan:
    action: Action
    pod: PodView | None = None  # the Pod to keep, replace, resize, mark or remove
    message: str = ""
    replica: int = 0  # the replica to create


def plan(healthdemo: HealthDemo, pods: Sequence[PodView]) -> Plan:
    """The next step towards the Pods the HealthDemo asks for, from the watched Pods alone:
    replica by replica, then any replica past spec.replicas."""
    if healthdemo.problems:
        return Plan(Action.INVALID, message="; ".join(healthdemo.problems))
    for replica in range(healthdemo.replicas):
        step = _plan_replica(healthdemo, replica, [p for p in pods if p.replica == replica])
        if step.action is not Action.KEEP:
            return step
    extra = [p for p in live_pods(pods) if p.replica >= healthdemo.replicas]
    if extra:
        pod = extra[-1]
        return Plan(
            Action.REMOVE,
            pod,
            f"spec.replicas is {healthdemo.replicas}: Pod {pod.name} is removed",
        )
    return Plan(Action.KEEP, current_pod(pods))


def _plan_replica(healthdemo: HealthDemo, replica: int, pods: Sequence[PodView]) -> Plan:
    live = current_pod(pods, replica)
    generation = healthdemo.generation
    if live is not None:
        if live.generation is None or live.generation == generation:
            return Plan(Action.KEEP, live)
        wanted = podspec.build_pod(healthdemo, replica)
        annotations = wanted["metadata"]["annotations"]
        if live.digest == annotations[names.ANNOTATION_DIGEST] and not live.deleting:
            return Plan(Action.MARK, live)
        if live.shape == annotations[names.ANNOTATION_SHAPE] and not live.deleting:
            return Plan(
                Action.RESIZE,
                live,
                f"only the resources changed (generation {live.generation} → {generation}): "
                f"Pod {live.name} is resized in place",
            )
        return Plan(
            Action.REPLACE,
            live,
            f"the spec changed (generation {live.generation} → {generation}): probes are "
            f"immutable on a Pod, so Pod {live.name} is being replaced",
        )
    if any(p.deleting and not p.gone for p in pods):
        name = healthdemo.pod_name_of(replica)
        return Plan(Action.WAIT, message=f"waiting for Pod {name} to go", replica=replica)
    return Plan(Action.CREATE, replica=replica)


class Outcome(enum.Enum):
    CREATED = "created"
    EXISTS = "exists"  # ours already: the watch has not delivered it yet
    TAKEN = "taken"  # a Pod with our name belongs to someone else
    CLOSING = "closing"  # the namespace is being deleted: nothing may be created in it
    UNSUPPORTED = "unsupported"  # the API server would drop a field the lesson needs


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    message: str = ""


def _namespace_terminating(exc: ApiException) -> bool:
    try:
        details = json.loads(exc.body or "{}").get("details") or {}
    except ValueError:
        return False
    return any(c.get("reason") == "NamespaceTerminating" for c in details.get("causes") or [])


def _lacking(kube: Kube, pod: Mapping[str, Any]) -> str | None:
    """What of the Pod the API server would drop or refuse for lack of a feature (a dry run)."""
    try:
        return features.dropped(pod, kube.create_pod(pod, dry_run=True))
    except ApiException as exc:
        if exc.status != 422:
            raise
        try:
            message = str(json.loads(exc.body or "{}").get("message") or "")
        except ValueError:
            message = str(exc.body or "")
        lacking = features.refused(message)
        if lacking is None:
            raise
        return lacking


def create(
    kube: Kube, healthdemo: HealthDemo, replica: int = 0, *, look_first: bool = False
) -> Result:
    """Create the Pod; on a name conflict, find out whose Pod holds the name.

    Creating first saves a round trip where it counts, between `kubectl apply` and the Pod;
    `look_first` (a squatter held the name last time) reads first, as a squatter usually stays.
    """
    name, namespace = healthdemo.pod_name_of(replica), healthdemo.namespace
    existing = kube.read_pod(namespace, name) if look_first else None
    if existing is None:
        pod = podspec.build_pod(healthdemo, replica)
        try:
            if features.asked(pod):  # only these need the server's word first
                lacking = _lacking(kube, pod)
                if lacking is not None:
                    return Result(Outcome.UNSUPPORTED, lacking)
            kube.create_pod(pod)
            return Result(Outcome.CREATED, f"created Pod {name}")
        except ApiException as exc:
            if exc.status == 403 and _namespace_terminating(exc):
                return Result(Outcome.CLOSING, f"namespace {namespace} is terminating")
            if exc.status != 409:
                raise
        existing = kube.read_pod(namespace, name)
        if existing is None:  # deleted in between: the next attempt creates it
            return Result(Outcome.EXISTS, f"Pod {name} was just deleted")
    if pod_view(existing).owner_uid != healthdemo.uid:
        return Result(
            Outcome.TAKEN,
            f"a Pod named {name} already exists and is not owned by this HealthDemo; delete or "
            "rename that Pod, or rename the HealthDemo",
        )
    return Result(Outcome.EXISTS, f"Pod {name} exists")


def resize(kube: Kube, healthdemo: HealthDemo, pod: PodView) -> bool:
    """Give exactly that Pod the resources the spec asks for, in place (`pods/resize`; the
    kubelet restarts a container whose resizePolicy says RestartContainer), then mark it as
    built from this generation. False when the API server refuses the resize (a release
    without in-place resize, or a change it does not allow): then the Pod is replaced."""
    wanted = podspec.build_pod(healthdemo, pod.replica)
    try:
        kube.resize_pod(healthdemo.namespace, pod.name, pod.uid, podspec.resize_patch(wanted))
    except ApiException as exc:
        if exc.status not in (400, 404, 405, 409, 422):
            raise
        return False
    mark(kube, healthdemo, pod)
    return True


def mark(kube: Kube, healthdemo: HealthDemo, pod: PodView) -> None:
    """Mark exactly that Pod as built from this generation (and its spec's digest)."""
    annotations = podspec.build_pod(healthdemo, pod.replica)["metadata"]["annotations"]
    keys = (names.ANNOTATION_GENERATION, names.ANNOTATION_DIGEST)
    kube.annotate_pod(healthdemo.namespace, pod.name, pod.uid, {k: annotations[k] for k in keys})


def replace(kube: Kube, healthdemo: HealthDemo, pod: PodView) -> None:
    """Delete exactly that outdated Pod (a UID precondition: never a newer one); its deletion
    event brings the next step, the new Pod."""
    kube.delete_pod(healthdemo.namespace, pod.name, pod.uid)
