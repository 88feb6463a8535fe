"""The commands: find the HealthDemo and its Pod, break or heal the webapp through the Pod proxy,
and gather what `timeline` draws. Each failure is a PluginError with one line to show."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubectl_healthdemo import faults, timeline
from kubectl_healthdemo.api import Answer, Api
from kubectl_healthdemo.errors import (
    FaultsDisabled,
    NoPod,
    NoSidecar,
    NoSuchHealthDemo,
    Unreachable,
    WebappError,
)

POD_SUFFIX = "-webapp"
DEFAULT_PORT = 5000
SIDECAR = "sidecar"
SIDECAR_PORT = 5100  # spec.sidecar serves HTTP here (the operator's podspec)


@dataclass(frozen=True)
class Target:
    """Where a HealthDemo's webapp (or its sidecar) answers: its Pod and port."""

    name: str
    healthdemo: Mapping[str, Any]
    pod: str
    port: int
    container: str = "webapp"


def load_healthdemo(api: Api, name: str) -> dict[str, Any]:
    found = api.healthdemo(name)
    if found is not None:
        return found
    if not api.crd_installed():
        raise NoSuchHealthDemo(
            "this cluster has no HealthDemo API: install the CRD first (kubectl apply -f crds/)"
        )
    raise NoSuchHealthDemo(f'no HealthDemo "{name}" in namespace "{api.namespace}"')


def pod_name(healthdemo: Mapping[str, Any]) -> str:
    """The operator's Pod: the status says which; before the first status, its fixed name."""
    status = healthdemo.get("status") or {}
    return str(status.get("podName") or healthdemo["metadata"]["name"] + POD_SUFFIX)


def _no_pod_reason(healthdemo: Mapping[str, Any]) -> str:
    status = healthdemo.get("status") or {}
    phase = status.get("phase")
    if phase is None:
        return "no status yet: is the operator running?"
    conditions: list[dict[str, Any]] = status.get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    message = ready.get("message")
    return f"phase {phase}" + (f": {message}" if message else "")


def find_target(api: Api, name: str, container: str = "webapp", replica: int = 0) -> Target:
    """The HealthDemo's running Pod (of replica `replica`); NoPod while there is none."""
    healthdemo = load_healthdemo(api, name)
    spec = healthdemo.get("spec") or {}
    replicas = int(spec.get("replicas") or 1)
    if replica >= replicas:
        raise NoPod(
            f'HealthDemo "{name}" has {replicas} replica(s): --replica is 0 to {replicas - 1}'
        )
    if container == SIDECAR and spec.get("sidecar") is None:
        raise NoSidecar(
            f'HealthDemo "{name}" has no sidecar: give it spec.sidecar (the sidecar lesson: '
            "kubectl healthdemo lesson sidecar)"
        )
    pod_of = pod_name(healthdemo) if replica == 0 else f"{name}{POD_SUFFIX}-{replica}"
    pod = api.pod(pod_of)
    if pod is None:
        raise NoPod(f'HealthDemo "{name}" has no Pod yet ({_no_pod_reason(healthdemo)})')
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        raise NoPod(f"Pod {pod_of} is being deleted; the operator replaces it: try again soon")
    status = pod.get("status") or {}
    if not status.get("podIP") or status.get("phase") != "Running":
        raise NoPod(
            f"Pod {pod_of} is not running yet (phase {status.get('phase') or 'Pending'}, "
            f"{_no_pod_reason(healthdemo)}): try again when it runs"
        )
    if container == SIDECAR:
        return Target(name, healthdemo, pod_of, SIDECAR_PORT, SIDECAR)
    return Target(name, healthdemo, pod_of, int(spec.get("port") or DEFAULT_PORT))


def post(api: Api, target: Target, fault: faults.Fault) -> Answer:
    """One fault switch, through the API server's Pod proxy; the webapp's refusals told apart
    from the API server's (which are Status objects)."""
    answer = api.proxy_post(target.pod, target.port, fault.path, fault.query)
    if answer.is_api_status:
        if answer.status == 404:
            raise NoPod(f"Pod {target.pod} is gone: {answer.message}")
        raise Unreachable(
            f"the webapp in Pod {target.pod} did not answer the API server's proxy on port "
            f"{target.port} (restarting?): {answer.message}"
        )
    if answer.status in (401, 403):
        raise FaultsDisabled(
            f"the webapp in Pod {target.pod} refuses faults (HTTP {answer.status}): "
            f"{answer.message}; a HealthDemo with spec.faults: disabled cannot be broken"
        )
    if not 200 <= answer.status < 300:
        raise WebappError(
            f"the webapp answered POST {fault.path} with HTTP {answer.status}: {answer.message}"
        )
    return answer


def _body(answer: Answer) -> str:
    return json.dumps(answer.body, separators=(",", ":")) if isinstance(answer.body, dict) else ""


def break_it(
    api: Api, name: str, fault: faults.Fault, container: str = "webapp", replica: int = 0
) -> str:
    """What `break` prints: the webapp's answer and what the kubelet should do now."""
    target = find_target(api, name, container, replica)
    if fault.deletes:
        api.delete_pod(target.pod)
        spec = target.healthdemo.get("spec") or {}
        return (
            f"{target.pod}: deleted\n{faults.expectation(fault, spec, {})}\n"
            f"follow it: kubectl healthdemo watch {name} -n {api.namespace}"
        )
    answer = post(api, target, fault)
    status = target.healthdemo.get("status") or {}
    spec = target.healthdemo.get("spec") or {}
    expected = status.get("expected") or {}
    if container == SIDECAR:  # its own probe and probe math; it has no readiness probe
        spec, expected = spec.get("sidecar") or {}, expected.get(SIDECAR) or {}
    expect = faults.expectation(fault, spec, expected)
    where = target.pod if container != SIDECAR else f"{target.pod} (sidecar)"
    return (
        f"{where}: POST {fault.path} → {answer.status} {_body(answer)}\n"
        f"{expect}\n"
        f"follow it: kubectl healthdemo watch {name} -n {api.namespace}"
    )


def heal(api: Api, name: str, container: str = "webapp", replica: int = 0) -> str:
    """Liveness healthy again (also ends fail-next and hang) and readiness back on."""
    target = find_target(api, name, container, replica)
    for fault in faults.HEAL:
        post(api, target, fault)
    return f"{target.pod}: healed (POST /stop-failing, POST /readyz/enable): liveness ok, ready"


def events_for(api: Api, healthdemo: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The operator's Events about the HealthDemo and the kubelet's about its Pod."""
    name = healthdemo["metadata"]["name"]
    about_healthdemo, _ = api.events("HealthDemo", name)
    about_pod, _ = api.events("Pod", pod_name(healthdemo))
    return about_healthdemo + about_pod


def load_timeline(api: Api, name: str) -> timeline.Timeline:
    healthdemo = load_healthdemo(api, name)
    return timeline.build(healthdemo, events_for(api, healthdemo))
