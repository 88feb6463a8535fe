"""Keep exactly one up-to-date Pod per HealthDemo: create it, replace it on a spec change, and
never touch a Pod that is not ours."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthdemo_operator import podspec
from healthdemo_operator.kube import ApiException, Kube
from healthdemo_operator.observations import PodView


class Outcome(enum.Enum):
    INVALID = "invalid"  # the spec is wrong in a way the schema cannot catch: no Pod
    CREATED = "created"
    CURRENT = "current"  # exists and was built from the current generation
    OUTDATED = "outdated"  # built from an older spec: deleted now, to be created again
    REPLACING = "replacing"  # the old Pod is still terminating; create once it is gone
    TAKEN = "taken"  # a Pod with our name belongs to someone else
    CLOSING = "closing"  # the namespace is being deleted: nothing may be created in it


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


def ensure_pod(
    kube: Kube,
    healthdemo: Mapping[str, Any],
    *,
    expect_missing: bool = False,
    watched: PodView | None = None,
) -> Result:
    """One step towards the Pod the HealthDemo asks for; call again until CREATED or CURRENT.

    `expect_missing` (a brand-new HealthDemo): try to create first and look only on a conflict,
    which saves a round trip where it counts, between `kubectl apply` and the Pod.
    `watched`: the live Pod the watch already delivered; if it is ours and current, no request
    is made at all (an operator restart with 1,000 HealthDemos then costs no 1,000 GETs).
    """
    meta = healthdemo["metadata"]
    problems = podspec.validate(meta["name"], podspec.effective(healthdemo.get("spec")))
    if problems:
        return Result(Outcome.INVALID, "; ".join(problems))
    generation = int(meta.get("generation") or 1)
    if (
        watched is not None
        and watched.owner_uid == meta["uid"]
        and watched.generation == generation
        and not watched.deleting
    ):
        return Result(Outcome.CURRENT)
    name = podspec.pod_name(meta["name"])
    existing = None if expect_missing else kube.read_pod(meta["namespace"], name)
    if existing is None:
        created = _create(kube, healthdemo, name)
        if created.outcome is not Outcome.REPLACING or not expect_missing:
            return created
        existing = kube.read_pod(meta["namespace"], name)  # it exists: whose, and how old?
        if existing is None:
            return created
    if podspec.owner_uid(existing) != meta["uid"]:
        return Result(
            Outcome.TAKEN,
            f"a Pod named {name} already exists and is not owned by this HealthDemo; delete or "
            "rename that Pod, or rename the HealthDemo",
        )
    if existing["metadata"].get("deletionTimestamp"):
        return Result(Outcome.REPLACING, f"waiting for Pod {name} to terminate")
    built = podspec.built_generation(existing)
    if built is not None and built != generation:
        kube.delete_pod(meta["namespace"], name, existing["metadata"]["uid"])
        return Result(
            Outcome.OUTDATED,
            f"the spec changed (generation {built} → {generation}): probes are immutable on a "
            f"Pod, so Pod {name} is being replaced",
        )
    return Result(Outcome.CURRENT)


def _create(kube: Kube, healthdemo: Mapping[str, Any], name: str) -> Result:
    namespace = healthdemo["metadata"]["namespace"]
    try:
        kube.create_pod(podspec.build_pod(healthdemo))
    except ApiException as exc:
        if exc.status == 409:  # it exists already (or a recreate raced us): look again
            return Result(Outcome.REPLACING, f"Pod {name} already exists")
        if exc.status == 403 and _namespace_terminating(exc):
            return Result(Outcome.CLOSING, f"namespace {namespace} is terminating")
        raise
    return Result(Outcome.CREATED, f"created Pod {name}")
