"""Pod fields that only some clusters know, and how to tell that one was dropped. Pure.

An API server whose release or feature gates lack a field does not refuse a Pod that sets it: it
drops the field and stores the rest. A lesson whose field was dropped would run as something
else (a container meant to restart on exit 42 would just end), so the operator asks the server
first (a dry-run create) and compares; a dropped field makes the HealthDemo Invalid, naming the
feature and the release it needs. A value of a field the server knows, such as a restart rule's
action `RestartAllContainers`, is refused instead (422, "Unsupported value"): that too names the
feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthdemo_operator import names


@dataclass(frozen=True)
class Feature:
    spec_field: str  # where the HealthDemo asks for it
    container_field: str  # the webapp container's field the Pod carries it in
    gate: str
    needs: str  # the releases that have it on by default


GATED = (
    Feature(
        "spec.restartPolicyRules",
        "restartPolicyRules",
        "ContainerRestartRules",
        "beta and on by default since Kubernetes 1.35",
    ),
)


def _webapp(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    containers = (pod.get("spec") or {}).get("containers") or []
    found: Mapping[str, Any] = next(
        (c for c in containers if c.get("name") == names.CONTAINER_NAME), {}
    )
    return found


def asked(pod: Mapping[str, Any]) -> list[Feature]:
    """The gated features a Pod we build uses: only these need the server's word."""
    container = _webapp(pod)
    return [f for f in GATED if container.get(f.container_field)]


def dropped(wanted: Mapping[str, Any], stored: Mapping[str, Any]) -> str | None:
    """What the API server dropped of the Pod we asked for (`stored`: its dry-run answer), as
    a message a user can act on; None when it kept every gated field."""
    kept = _webapp(stored)
    missing = [f for f in asked(wanted) if not kept.get(f.container_field)]
    if not missing:
        return None
    return "; ".join(
        f"{f.spec_field} needs the feature gate {f.gate} ({f.needs}) on the API server and "
        "the kubelet, and this API server dropped it from the Pod: use a cluster that has it, "
        f"or remove {f.spec_field} for this cluster"
        for f in missing
    )


@dataclass(frozen=True)
class Value:
    value: str  # as the API server quotes it when it refuses it
    spec_field: str
    gate: str
    needs: str


REFUSED = (
    Value(
        '"RestartAllContainers"',
        "spec.restartPolicyRules[].action RestartAllContainers",
        "RestartAllContainersOnContainerExits",
        "beta and on by default since Kubernetes 1.36",
    ),
)


def refused(message: str) -> str | None:
    """What the API server refused of the Pod we asked for (its 422's message) for lack of a
    feature, as a message a user can act on; None when it refused it for another reason."""
    if "Unsupported value" not in message:
        return None
    missing = [v for v in REFUSED if f"Unsupported value: {v.value}" in message]
    if not missing:
        return None
    return "; ".join(
        f"{v.spec_field} needs the feature gate {v.gate} ({v.needs}) on the API server and the "
        f"kubelet, and this API server refused it: use a cluster that has it, or another action "
        "for this cluster"
        for v in missing
    )
