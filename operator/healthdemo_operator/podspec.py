"""The Pod a HealthDemo asks for, and the checks the CRD schema cannot make: pure functions."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from healthdemo_operator import names

if TYPE_CHECKING:
    from healthdemo_operator.healthdemo import HealthDemo

# The CRD applies the same defaults server-side (a test keeps the two in step); applying them
# here too keeps the operator correct if an older CRD without defaults is installed.
DEFAULTS: dict[str, Any] = {
    "image": "flask-webapp:latest",
    "imagePullPolicy": "IfNotPresent",
    "port": 5000,
    "startupDelaySeconds": 0,
    "crashAfterSeconds": 0,  # the crash-loop lesson: each container crashes this long after
    "faults": "enabled",  # the webapp's fault switches; "disabled" makes them answer 403
    "restartPolicy": "Always",
    "replicas": 1,
}
# spec.traffic: a client sending this many requests a second through the Service (off without it).
TRAFFIC_DEFAULTS: dict[str, Any] = {"ratePerSecond": 2.0, "timeoutSeconds": 1.0}
# Kubernetes' own defaults for a probe's timing.
TIMING_DEFAULTS: dict[str, Any] = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "failureThreshold": 3,
    "successThreshold": 1,
}
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")
# The webapp's endpoint for each probe when the spec names none (`path` is the shorthand).
DEFAULT_PATHS = {
    "livenessProbe": "/healthz",
    "readinessProbe": "/readyz",
    "startupProbe": "/startupz",
}
# What the webapp serves besides HTTP on spec.port (webapp/config.py; a test keeps them in step):
# a TCP port per probe lesson that refuses connections while that check fails, and gRPC health.
TCP_LIVENESS_PORT = 5001
TCP_READINESS_PORT = 5002
GRPC_PORT = 5003
GRPC_SERVICES = ("", "liveness", "readiness", "startup")
# spec.sidecar: a second webapp beside the first (same network namespace): its own ports.
SIDECAR_PORT = 5100
SIDECAR_TCP_LIVENESS_PORT = 5101
SIDECAR_TCP_READINESS_PORT = 5102
SIDECAR_GRPC_PORT = 5103
SIDECAR_PORTS = (
    SIDECAR_PORT,
    SIDECAR_TCP_LIVENESS_PORT,
    SIDECAR_TCP_READINESS_PORT,
    SIDECAR_GRPC_PORT,
)
SIDECAR_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "10m", "memory": "48Mi"},
    "limits": {"memory": "128Mi"},
}
DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "10m", "memory": "48Mi"},
    "limits": {"memory": "256Mi"},
}

RUN_AS_USER = 10001  # the webapp image's numeric UID
# The webapp's journal of how each container ended: an emptyDir outlives container restarts.
JOURNAL_VOLUME = "journal"
SIDECAR_JOURNAL_VOLUME = "sidecar-journal"  # each container keeps its own journal
JOURNAL_DIR = "/var/run/healthdemo"
TERMINATION_LOG = "/dev/termination-log"

# distribution/reference grammar, in short: [host[:port]/]path[:tag][@digest], path lowercase.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_IMAGE = re.compile(
    rf"(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,})?"
)


def effective(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """The spec with every default filled in; each probe has exactly one handler (the shorthand
    `path` becomes `httpGet.path`). Readiness and startup probes stay absent unless asked for."""
    spec = spec or {}
    result = {**DEFAULTS, **{k: v for k, v in spec.items() if v is not None}}
    for name in PROBES:
        given = spec.get(name)
        if given is None and name != "livenessProbe":
            continue
        result[name] = _effective_probe(name, given or {}, result["port"])
    traffic = spec.get("traffic")
    if traffic is not None:
        result["traffic"] = {
            **TRAFFIC_DEFAULTS,
            **{k: v for k, v in traffic.items() if v is not None},
        }
    sidecar = spec.get("sidecar")
    if sidecar is not None:
        result["sidecar"] = {
            "livenessProbe": _effective_probe(
                "livenessProbe",
                {k: v for k, v in (sidecar.get("livenessProbe") or {}).items() if k != "httpGet"},
                SIDECAR_PORT,
            )
        }
    return result


def _effective_probe(name: str, given: Mapping[str, Any], port: int) -> dict[str, Any]:
    probe = {**TIMING_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    if not any(h in probe for h in HANDLERS):
        probe["httpGet"] = {"path": probe.pop("path", None) or DEFAULT_PATHS[name]}
    if "httpGet" in probe:
        probe["httpGet"] = {
            "path": DEFAULT_PATHS[name],
            "port": port,
            **{k: v for k, v in probe["httpGet"].items() if v is not None},
        }
    if "grpc" in probe:
        probe["grpc"] = {"port": GRPC_PORT, **probe["grpc"]}
    return probe


def handler(probe: Mapping[str, Any]) -> str:
    """Which of Kubernetes' four handlers an effective probe uses."""
    return next(h for h in HANDLERS if h in probe)


def pod_name(healthdemo_name: str, replica: int = 0) -> str:
    """Replica 0 keeps the name a HealthDemo's one Pod always had: a HealthDemo from before
    spec.replicas keeps its Pod."""
    return healthdemo_name + names.POD_SUFFIX + (f"-{replica}" if replica else "")


# Pod Security "restricted", for every Pod we build.
POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS_USER,
    "runAsGroup": RUN_AS_USER,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def service_name(healthdemo_name: str) -> str:
    return healthdemo_name + names.POD_SUFFIX


_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def build_service(healthdemo: HealthDemo) -> dict[str, Any]:
    """The Service in front of every Pod of the HealthDemo (its readiness decides which get
    requests): owned by it, selecting its Pods by their owner's UID."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(healthdemo.name),
            "namespace": healthdemo.namespace,
            "labels": {
                names.LABEL_NAME: names.APP_NAME,
                names.LABEL_MANAGED_BY: names.COMPONENT,
                names.LABEL_OWNER_UID: healthdemo.uid,
            },
            "ownerReferences": [owner(healthdemo)],
        },
        "spec": {
            "selector": {names.LABEL_OWNER_UID: healthdemo.uid},
            "ports": [{"name": "http", "port": names.SERVICE_PORT, "targetPort": "http"}],
        },
    }


def owner(healthdemo: HealthDemo) -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "name": healthdemo.name,
        "uid": healthdemo.uid,
        "controller": True,
        # True would need update on healthdemos/finalizers where the
        # OwnerReferencesPermissionEnforcement admission plugin runs.
        "blockOwnerDeletion": False,
    }


def validate(healthdemo_name: str, spec: Mapping[str, Any]) -> list[str]:
    """What is wrong with a HealthDemo that the API server accepted; empty when it is fine.
    `spec` is effective (defaults filled in)."""
    problems = []
    service = service_name(healthdemo_name)
    if not _DNS_LABEL.fullmatch(service):
        problems.append(  # stricter than a Pod name's 253: it is the limit
            f"the Service name {service[:40]}{'...' if len(service) > 40 else ''} is not a DNS "
            "label (at most 63 lowercase letters, digits and '-', starting with a letter): use a "
            f"HealthDemo name of at most {63 - len(names.POD_SUFFIX)} characters, without dots, "
            "that starts with a letter"
        )
    image = str(spec.get("image", ""))
    if len(image) > 255 or not _IMAGE.fullmatch(image):
        hint = " (repository names must be lowercase)" if image.lower() != image else ""
        problems.append(f"spec.image {image[:80]!r} is not a valid image reference{hint}")
    if spec.get("port") in WEBAPP_PORTS:
        problems.append(
            f"spec.port {spec['port']} is taken: the webapp serves its TCP checks on "
            f"{TCP_LIVENESS_PORT} and {TCP_READINESS_PORT} and gRPC health on {GRPC_PORT}"
        )
    if "sidecar" in spec and spec.get("port") in SIDECAR_PORTS:
        problems.append(
            f"spec.port {spec['port']} is taken: the sidecar serves HTTP on {SIDECAR_PORT}, its "
            f"TCP checks on {SIDECAR_TCP_LIVENESS_PORT} and {SIDECAR_TCP_READINESS_PORT} and gRPC "
            f"health on {SIDECAR_GRPC_PORT}"
        )
    restarting = [
        p["resourceName"]
        for p in spec.get("resizePolicy") or []
        if p.get("restartPolicy") == "RestartContainer"
    ]
    if restarting and spec.get("restartPolicy") == "Never":
        problems.append(
            f"spec.resizePolicy RestartContainer ({', '.join(restarting)}) needs a restartPolicy "
            "other than Never: Kubernetes refuses a container restart for a resize in a Pod "
            "that never restarts"
        )
    for name in PROBES:
        if name in spec:
            problems += _probe_problems(name, spec[name], spec.get("port", DEFAULTS["port"]))
    return problems


WEBAPP_PORTS = (TCP_LIVENESS_PORT, TCP_READINESS_PORT, GRPC_PORT)


def _probe_problems(name: str, probe: Mapping[str, Any], port: int) -> list[str]:
    """What Kubernetes or the webapp would refuse in one (effective) probe."""
    where = f"spec.{name}"
    handlers = [h for h in HANDLERS if h in probe]
    if len(handlers) != 1 or "path" in probe:
        given = [*(["path"] if "path" in probe else []), *handlers]
        return [
            f"{where} must have exactly one handler: httpGet, tcpSocket, exec or grpc (path is "
            f"shorthand for httpGet.path), not {' and '.join(given) or 'none'}"
        ]
    problems = []
    if name != "readinessProbe" and probe.get("successThreshold", 1) != 1:
        problems.append(f"{where}.successThreshold must be 1 (a Kubernetes rule)")
    if name == "readinessProbe" and "terminationGracePeriodSeconds" in probe:
        problems.append(
            f"{where}.terminationGracePeriodSeconds is not allowed: Kubernetes rejects it on "
            "readiness probes"
        )
    (kind,) = handlers
    body = probe[kind]
    if kind == "httpGet" and body.get("port", port) != port:
        problems.append(
            f"{where}.httpGet.port must be spec.port ({port}): the webapp serves HTTP there"
        )
    if kind == "tcpSocket" and body.get("port") not in (
        port,
        TCP_LIVENESS_PORT,
        TCP_READINESS_PORT,
    ):
        problems.append(
            f"{where}.tcpSocket.port {body.get('port')} is not served by the webapp: use "
            f"{TCP_LIVENESS_PORT} (open while live), {TCP_READINESS_PORT} (open while ready) or "
            f"spec.port ({port}, open while the app runs)"
        )
    if kind == "grpc":
        if body.get("port") != GRPC_PORT:
            problems.append(
                f"{where}.grpc.port must be {GRPC_PORT}, where the webapp serves gRPC health"
            )
        if body.get("service", "") not in GRPC_SERVICES:
            problems.append(
                f"{where}.grpc.service {body.get('service')!r} is unknown to the webapp's gRPC "
                "health: use liveness, readiness, startup or leave it empty (liveness)"
            )
    if kind == "exec" and not body.get("command"):
        problems.append(f"{where}.exec.command must name a command to run")
    return problems


def _probe(name: str, probe: Mapping[str, Any]) -> dict[str, Any]:
    """A container probe from an effective, valid one: Kubernetes' fields, nothing else."""
    kind = handler(probe)
    body = dict(probe[kind])
    if kind == "httpGet":
        body["scheme"] = "HTTP"
    result: dict[str, Any] = {
        kind: body,
        "initialDelaySeconds": probe["initialDelaySeconds"],
        "periodSeconds": probe["periodSeconds"],
        "timeoutSeconds": probe["timeoutSeconds"],
        "failureThreshold": probe["failureThreshold"],
        "successThreshold": probe["successThreshold"] if name == "readinessProbe" else 1,
    }
    if name != "readinessProbe" and probe.get("terminationGracePeriodSeconds") is not None:
        result["terminationGracePeriodSeconds"] = probe["terminationGracePeriodSeconds"]
    return result


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A container restart rule with Kubernetes' fields only."""
    codes = rule["exitCodes"]
    return {
        "action": rule["action"],
        "exitCodes": {"operator": codes["operator"], "values": [int(v) for v in codes["values"]]},
    }


def _resources(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """spec.resources as given; the default (a memory limit /oom can reach) where it says none."""
    if not given:
        return {key: dict(value) for key, value in DEFAULT_RESOURCES.items()}
    return {key: dict(given[key]) for key in ("requests", "limits") if given.get(key)}


def _webapp(
    spec: Mapping[str, Any],
    *,
    name: str,
    env: list[dict[str, str]],
    ports: Mapping[str, int],
    volume: str,
    resources: Mapping[str, Any],
) -> dict[str, Any]:
    """A container running the webapp image: the app itself, or its sidecar on other ports.
    The journal and the termination message tell the operator how each container ended (see
    journal.py); WEBAPP_FAULTS switches its fault endpoints off for a HealthDemo nobody may
    break."""
    return {
        "name": name,
        "image": spec["image"],
        "imagePullPolicy": spec["imagePullPolicy"],
        "env": [
            *env,
            {"name": "WEBAPP_JOURNAL_DIR", "value": JOURNAL_DIR},
            {"name": "WEBAPP_TERMINATION_LOG", "value": TERMINATION_LOG},
            {"name": "WEBAPP_FAULTS", "value": str(spec["faults"])},
        ],
        "volumeMounts": [{"name": volume, "mountPath": JOURNAL_DIR}],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "ports": [
            {"name": port_name, "containerPort": port, "protocol": "TCP"}
            for port_name, port in ports.items()
        ],
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
    }


def _sidecar(spec: Mapping[str, Any]) -> dict[str, Any]:
    """spec.sidecar: the webapp again, as an init container that keeps running (restartPolicy
    Always): the kubelet restarts it on its own, and reports it in initContainerStatuses.
    It shares the Pod's network, so it listens on ports of its own."""
    probe = spec["sidecar"]["livenessProbe"]
    sidecar = _webapp(
        spec,
        name=names.SIDECAR_NAME,
        env=[
            {"name": "PORT", "value": str(SIDECAR_PORT)},
            {"name": "WEBAPP_NAME", "value": names.SIDECAR_NAME},
            {"name": "WEBAPP_TCP_LIVENESS_PORT", "value": str(SIDECAR_TCP_LIVENESS_PORT)},
            {"name": "WEBAPP_TCP_READINESS_PORT", "value": str(SIDECAR_TCP_READINESS_PORT)},
            {"name": "WEBAPP_GRPC_PORT", "value": str(SIDECAR_GRPC_PORT)},
            {"name": "WEBAPP_LIVENESS_TIMEOUT_SECONDS", "value": str(probe["timeoutSeconds"])},
        ],
        ports={
            "sidecar-http": SIDECAR_PORT,
            "sidecar-live": SIDECAR_TCP_LIVENESS_PORT,
            "sidecar-ready": SIDECAR_TCP_READINESS_PORT,
            "sidecar-grpc": SIDECAR_GRPC_PORT,
        },
        volume=SIDECAR_JOURNAL_VOLUME,
        resources={key: dict(value) for key, value in SIDECAR_RESOURCES.items()},
    )
    sidecar["restartPolicy"] = "Always"
    sidecar["livenessProbe"] = _probe("livenessProbe", probe)
    return sidecar


def build_pod(healthdemo: HealthDemo, replica: int = 0) -> dict[str, Any]:
    """Pod number `replica` of a HealthDemo: owned by it, probes exactly as its spec says, and
    passing Pod Security "restricted"."""
    spec = healthdemo.spec
    container = _webapp(
        spec,
        name=names.CONTAINER_NAME,
        # The app reads PORT, so a non-default port is where the probes look; the probe's
        # timeout tells the app when a slow answer is a failure to the kubelet.
        env=[
            {"name": "PORT", "value": str(spec["port"])},
            {
                "name": "WEBAPP_LIVENESS_TIMEOUT_SECONDS",
                "value": str(spec["livenessProbe"]["timeoutSeconds"]),
            },
            {"name": "WEBAPP_STARTUP_DELAY_SECONDS", "value": str(spec["startupDelaySeconds"])},
            {"name": "WEBAPP_CRASH_AFTER_SECONDS", "value": str(spec["crashAfterSeconds"])},
        ],
        ports={
            "http": spec["port"],
            "tcp-live": TCP_LIVENESS_PORT,
            "tcp-ready": TCP_READINESS_PORT,
            "grpc": GRPC_PORT,
        },
        volume=JOURNAL_VOLUME,
        resources=_resources(spec.get("resources")),
    )
    for name in PROBES:
        if name in spec:
            container[name] = _probe(name, spec[name])
    if spec.get("resizePolicy"):
        container["resizePolicy"] = [
            {"resourceName": p["resourceName"], "restartPolicy": p["restartPolicy"]}
            for p in spec["resizePolicy"]
        ]
    if spec.get("preStopSleepSeconds"):
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": spec["preStopSleepSeconds"]}}}
    rules = spec.get("restartPolicyRules")
    if rules:
        # Kubernetes wants the container's own policy set wherever it has rules.
        container["restartPolicy"] = spec["restartPolicy"]
        container["restartPolicyRules"] = [_rule(rule) for rule in rules]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": healthdemo.pod_name_of(replica),
            "namespace": healthdemo.namespace,
            "labels": {
                names.LABEL_NAME: names.APP_NAME,
                names.LABEL_MANAGED_BY: names.COMPONENT,
                names.LABEL_OWNER_UID: healthdemo.uid,
                names.LABEL_REPLICA: str(replica),
            },
            "annotations": {
                names.ANNOTATION_GENERATION: str(healthdemo.generation),
                names.ANNOTATION_OWNER_NAME: healthdemo.name,
            },
            "ownerReferences": [owner(healthdemo)],
        },
        "spec": {
            "restartPolicy": spec["restartPolicy"],
            "automountServiceAccountToken": False,  # the webapp never calls the API
            "enableServiceLinks": False,
            "securityContext": POD_SECURITY,
            **({"initContainers": [_sidecar(spec)]} if "sidecar" in spec else {}),
            "containers": [container],
            "volumes": [
                {"name": JOURNAL_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}},
                *(
                    [{"name": SIDECAR_JOURNAL_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}}]
                    if "sidecar" in spec
                    else []
                ),
            ],
        },
    }
    pod["metadata"]["annotations"][names.ANNOTATION_SHAPE] = shape(pod)
    pod["metadata"]["annotations"][names.ANNOTATION_DIGEST] = digest(pod)
    return pod


def digest(pod: Mapping[str, Any]) -> str:
    """A digest of the Pod's whole spec, resources included."""
    return _digest_of(pod["spec"])


def _digest_of(spec: Mapping[str, Any]) -> str:
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shape(pod: Mapping[str, Any]) -> str:
    """A digest of the Pod's spec without its containers' resources (and the metadata the
    operator keeps current): two Pods of the same shape differ at most in what a resize changes."""
    spec = json.loads(json.dumps(pod["spec"]))
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            container.pop("resources", None)
    return _digest_of(spec)


def resize_patch(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The `pods/resize` patch that gives a Pod of the same shape `pod`'s resources."""
    return {
        key: [{"name": c["name"], "resources": c["resources"]} for c in pod["spec"][key]]
        for key in ("initContainers", "containers")
        if pod["spec"].get(key)
    }
