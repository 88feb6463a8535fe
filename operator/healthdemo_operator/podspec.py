"""The Pod a HealthDemo asks for, and the checks the CRD schema cannot make: pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from healthdemo_operator import names

# The CRD applies the same defaults server-side (a test keeps the two in step); applying them
# here too keeps the operator correct if an older CRD without defaults is installed.
DEFAULTS: dict[str, Any] = {
    "image": "flask-webapp:latest",
    "imagePullPolicy": "IfNotPresent",
    "port": 5000,
}
LIVENESS_DEFAULTS: dict[str, Any] = {
    "path": "/healthz",
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "failureThreshold": 3,
}
READINESS_DEFAULTS: dict[str, Any] = {**LIVENESS_DEFAULTS, "path": "/readyz", "successThreshold": 1}

RUN_AS_USER = 10001  # the webapp image's numeric UID
# The webapp's journal of how each container ended: an emptyDir outlives container restarts.
JOURNAL_VOLUME = "journal"
JOURNAL_DIR = "/var/run/healthdemo"
TERMINATION_LOG = "/dev/termination-log"
MAX_NAME = 253  # metadata.name of a Pod (DNS subdomain)

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
    """The spec with every default filled in (readinessProbe stays absent unless asked for)."""
    spec = spec or {}
    result = {**DEFAULTS, **{k: v for k, v in spec.items() if v is not None}}
    result["livenessProbe"] = {**LIVENESS_DEFAULTS, **(spec.get("livenessProbe") or {})}
    if spec.get("readinessProbe") is not None:
        result["readinessProbe"] = {**READINESS_DEFAULTS, **spec["readinessProbe"]}
    return result


def pod_name(healthdemo_name: str) -> str:
    return healthdemo_name + names.POD_SUFFIX


def validate(healthdemo_name: str, spec: Mapping[str, Any]) -> list[str]:
    """What is wrong with a HealthDemo that the API server accepted; empty when it is fine."""
    problems = []
    name = pod_name(healthdemo_name)
    if len(name) > MAX_NAME:
        problems.append(
            f"the Pod name {name[:40]}... would be {len(name)} characters, over the {MAX_NAME} "
            "Kubernetes allows: use a HealthDemo name of at most "
            f"{MAX_NAME - len(names.POD_SUFFIX)}"
        )
    image = str(spec.get("image", ""))
    if len(image) > 255 or not _IMAGE.fullmatch(image):
        hint = " (repository names must be lowercase)" if image.lower() != image else ""
        problems.append(f"spec.image {image[:80]!r} is not a valid image reference{hint}")
    liveness = spec.get("livenessProbe") or {}
    if liveness.get("successThreshold", 1) != 1:
        problems.append("spec.livenessProbe.successThreshold must be 1 (a Kubernetes rule)")
    readiness = spec.get("readinessProbe") or {}
    if "terminationGracePeriodSeconds" in readiness:
        problems.append(
            "spec.readinessProbe.terminationGracePeriodSeconds is not allowed: Kubernetes "
            "rejects it on readiness probes"
        )
    return problems


def _probe(probe: Mapping[str, Any], port: int, *, liveness: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "httpGet": {"path": probe["path"], "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": probe["initialDelaySeconds"],
        "periodSeconds": probe["periodSeconds"],
        "timeoutSeconds": probe["timeoutSeconds"],
        "failureThreshold": probe["failureThreshold"],
        "successThreshold": 1 if liveness else probe["successThreshold"],
    }
    if liveness and probe.get("terminationGracePeriodSeconds") is not None:
        result["terminationGracePeriodSeconds"] = probe["terminationGracePeriodSeconds"]
    return result


def build_pod(healthdemo: Mapping[str, Any]) -> dict[str, Any]:
    """The Pod for a HealthDemo body: owned by it, probes exactly as its spec says, and passing
    Pod Security "restricted"."""
    meta = healthdemo["metadata"]
    spec = effective(healthdemo.get("spec"))
    port = spec["port"]
    container: dict[str, Any] = {
        "name": names.CONTAINER_NAME,
        "image": spec["image"],
        "imagePullPolicy": spec["imagePullPolicy"],
        # The app reads PORT, so a non-default port is where the probes look. The journal and
        # the termination message tell the operator how each container ended (see journal.py);
        # the probe's timeout tells the app when a slow answer is a failure to the kubelet.
        "env": [
            {"name": "PORT", "value": str(port)},
            {"name": "WEBAPP_JOURNAL_DIR", "value": JOURNAL_DIR},
            {"name": "WEBAPP_TERMINATION_LOG", "value": TERMINATION_LOG},
            {
                "name": "WEBAPP_LIVENESS_TIMEOUT_SECONDS",
                "value": str(spec["livenessProbe"]["timeoutSeconds"]),
            },
        ],
        "volumeMounts": [{"name": JOURNAL_VOLUME, "mountPath": JOURNAL_DIR}],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "livenessProbe": _probe(spec["livenessProbe"], port, liveness=True),
        "resources": {
            "requests": {"cpu": "10m", "memory": "48Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if "readinessProbe" in spec:
        container["readinessProbe"] = _probe(spec["readinessProbe"], port, liveness=False)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {
                names.LABEL_NAME: names.APP_NAME,
                names.LABEL_MANAGED_BY: names.COMPONENT,
                names.LABEL_OWNER_UID: meta["uid"],
            },
            "annotations": {
                names.ANNOTATION_GENERATION: str(meta.get("generation", 1)),
                names.ANNOTATION_OWNER_NAME: meta["name"],
            },
            "ownerReferences": [
                {
                    "apiVersion": names.API_VERSION,
                    "kind": names.KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    # True would need update on healthdemos/finalizers where the
                    # OwnerReferencesPermissionEnforcement admission plugin runs.
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": {
            "restartPolicy": "Always",
            "automountServiceAccountToken": False,  # the webapp never calls the API
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS_USER,
                "runAsGroup": RUN_AS_USER,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [{"name": JOURNAL_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}}],
        },
    }
