"""The names the contract fixes: API group, labels, annotations, component names."""

from __future__ import annotations

import re

GROUP = "demo.example.com"
VERSION = "v1"
PLURAL = "healthdemos"
KIND = "HealthDemo"
API_VERSION = f"{GROUP}/{VERSION}"

COMPONENT = "healthdemo-operator"  # managed-by label, Event source

# Labels on every Pod we create. The owner's UID (not its name, which may be longer than a label
# value's 63 characters) is what the operator selects on.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_OWNER_UID = f"{GROUP}/healthdemo-uid"
APP_NAME = "flask-webapp"

# The CR generation a Pod was built from: a newer generation replaces the Pod.
ANNOTATION_GENERATION = f"{GROUP}/generation"
ANNOTATION_OWNER_NAME = f"{GROUP}/healthdemo"
# A digest of the Pod we built, without its resources: the same shape under a new generation
# means only resources changed, and the Pod is resized in place instead of replaced.
ANNOTATION_SHAPE = f"{GROUP}/shape"
# A digest of the whole Pod spec we built: the same under a new generation means that generation
# changed nothing of this Pod (spec.replicas, say), and the Pod only gets the new generation.
ANNOTATION_DIGEST = f"{GROUP}/digest"
# Which of the HealthDemo's spec.replicas Pods this is: 0 is `<name>-webapp`, n `<name>-webapp-n`.
LABEL_REPLICA = f"{GROUP}/replica"
MAX_REPLICAS = 5  # a demo's Service, never a fleet (the CRD says the same)
# The Service in front of a HealthDemo's Pods: named like replica 0's Pod, port 80 to the webapp.
SERVICE_PORT = 80

CONTAINER_NAME = "webapp"
SIDECAR_NAME = "sidecar"  # spec.sidecar: an init container that keeps running
POD_SUFFIX = "-webapp"
_REPLICA_NAME = re.compile(rf"{POD_SUFFIX}(-[1-9][0-9]*)?$")


def could_be_ours(pod_name: str) -> bool:
    """Whether a Pod's name is one we give: <name>-webapp, or <name>-webapp-N for replica N."""
    return _REPLICA_NAME.search(pod_name) is not None
