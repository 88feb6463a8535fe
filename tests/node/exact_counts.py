"""Shared by the exact-count tests on the real node: drive one webapp Pod far past the kubelet's
Event budget, and take the truth from sources independent of the operator — the kubelet's own
`prober_probe_total` (read as admin from its `/metrics/probes`), the Pod status, and the webapp's
own counters."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from ..background import Background
from ..conftest import eventually, http_json, kubelet_liveness_successes
from .conftest import Cluster

# Below the threshold: each round fails twice, then succeeds; at it: a liveness restart.
PROBE = {"periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 3}
ROUNDS = 20  # 2 failed answers each: 40
RESTARTS = 8  # 3 failed answers each (the threshold): 24
EVENT_BURST = 25  # the kubelet's spam filter: Events per Pod and type before it throttles

_SERIES = re.compile(r"^prober_probe_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def kubelet_probe_totals(
    cluster: Cluster, pod_uid: str, container: str | None = None
) -> dict[tuple[str, str], int]:
    """The kubelet's (probe_type, result) → count for one Pod (one container of it), as admin."""
    code, text = cluster.node.kubelet_get("/metrics/probes")
    assert code == 200, text
    totals: dict[tuple[str, str], int] = {}
    for series in _SERIES.finditer(text):
        labels = dict(_LABEL.findall(series["labels"]))
        if labels.get("pod_uid") == pod_uid and container in (None, labels.get("container")):
            key = (labels["probe_type"], labels["result"])
            totals[key] = totals.get(key, 0) + int(float(series["value"]))
    return totals


def kubelet_failures(
    cluster: Cluster, pod_uid: str, probe_type: str, container: str | None = None
) -> int:
    """The kubelet's own count of failed `probe_type` ("Liveness", ...) probes for one Pod."""
    return kubelet_probe_totals(cluster, pod_uid, container).get((probe_type, "failed"), 0)


def liveness_events(cluster: Cluster, pod: str, namespace: str) -> int:
    """Failed liveness probes as the kubelet's Events tell them (they run out)."""
    return sum(
        e.get("count") or 1
        for e in cluster.events(pod, namespace)
        if e["type"] == "Warning" and e["message"].startswith("Liveness probe failed")
    )


@dataclass
class Webapp:
    """The HealthDemo's Pod, reached at its IP from this host."""

    cluster: Cluster
    namespace: str
    name: str

    @property
    def pod_name(self) -> str:
        return f"{self.name}-webapp"

    def pod(self) -> dict[str, Any]:
        return self.cluster.get("pod", self.pod_name, self.namespace)

    def restarts(self) -> int:
        statuses = self.pod()["status"].get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0))

    def status(self) -> dict[str, Any]:
        found: dict[str, Any] = (
            self.cluster.get("healthdemo", self.name, self.namespace).get("status") or {}
        )
        return found

    def url(self) -> str:
        ready = self.cluster.wait_ready(self.pod_name, self.namespace, timeout=90)
        return f"http://{ready['status']['podIP']}:5000"

    def call(self, path: str, method: str = "GET") -> tuple[int, Any] | None:
        """None while the container is not there to answer (it is being restarted)."""
        try:
            return http_json(self.url() + path, method=method)
        except OSError:
            return None

    def journal(self) -> dict[str, Any]:
        """The webapp's own Pod-wide counters (they outlive its containers)."""
        answer = eventually(lambda: self.call("/"), timeout=60, what=f"{self.name} answers")
        found: dict[str, Any] = answer[1]["pod"]
        return found

    def kubelet_successes(self) -> int:
        """Successful liveness answers to the kubelet in this container (the webapp's /metrics)."""
        text = eventually(self._metrics_text, timeout=60, what=f"{self.name}'s /metrics")
        return kubelet_liveness_successes(text)

    def _metrics_text(self) -> str | None:
        try:
            with urllib.request.urlopen(self.url() + "/metrics", timeout=5) as response:
                text: str = response.read().decode()
                return text
        except OSError:
            return None

    # -- the story -----------------------------------------------------------------------------

    def healthy_to_the_kubelet(self) -> None:
        """The kubelet counts failures in a row, and not only answered ones: the first probe of a
        new container can fail (refused, or timed out) while the app is still starting. A
        successful answer in this container resets that count, so a round starts from zero
        whatever the timing."""
        eventually(lambda: self.kubelet_successes() > 0, timeout=30, what="a successful answer")

    def fail_below_the_threshold(self, meanwhile: Callable[[], object] = lambda: None) -> None:
        """Two failed liveness answers, then a successful one: no restart. `meanwhile` runs
        right after the failures are asked for (a restart of the node's parts, say)."""
        self.healthy_to_the_kubelet()
        before = int(self.journal()["livenessFailures"])
        restarts = self.restarts()
        assert self.call("/fail-next?count=2", method="POST") == (200, {"failNext": 2})
        meanwhile()
        eventually(
            lambda: int(self.journal()["livenessFailures"]) == before + 2,
            timeout=30,
            what="2 failed liveness answers",
        )
        successes = self.kubelet_successes()
        eventually(
            lambda: self.kubelet_successes() > successes, timeout=30, what="a successful answer"
        )
        assert self.restarts() == restarts, "a round below the threshold restarted the container"

    def fail_until_restarted(self) -> None:
        """/start-failing: the kubelet kills the container after the threshold (that many
        answered failures), and restarts it."""
        self.healthy_to_the_kubelet()
        restarts = self.restarts()
        eventually(
            lambda: (self.call("/start-failing", method="POST") or (0,))[0] == 200,
            timeout=60,
            what="start-failing",
        )
        eventually(lambda: self.restarts() > restarts, timeout=90, what=f"restart {restarts + 1}")
        self.journal()  # the new container answers


def truth(app: Webapp) -> dict[str, Any]:
    """What happened, from the kubelet and the webapp, never from the operator."""
    pod = app.pod()
    totals = kubelet_probe_totals(app.cluster, pod["metadata"]["uid"])
    (container,) = pod["status"]["containerStatuses"]
    return {
        "restarts": container["restartCount"],
        "kubeletFailures": totals.get(("Liveness", "failed"), 0),
        "webappFailures": int(app.journal()["livenessFailures"]),
        "eventFailures": liveness_events(app.cluster, app.pod_name, app.namespace),
    }


class StatusTrail(Background):
    """A HealthDemo's status read every half second in a thread (through the client library,
    cheaper than kubectl on a busy machine): no total may ever go down on the way, and no
    restart may change its cause."""

    def __init__(self, app: Webapp) -> None:
        super().__init__("status-trail")
        self.app = app
        self.seen: list[dict[str, Any]] = []
        self._custom = client.CustomObjectsApi(app.cluster.plane.api_client())

    def step(self) -> None:
        body = self._custom.get_namespaced_custom_object(
            "demo.example.com", "v1", self.app.namespace, "healthdemos", self.app.name
        )
        self.seen.append(body.get("status") or {})

    def never_rewritten(self) -> None:
        assert self.seen, "no status read"
        for field in ("probeFailures", "restarts"):
            totals = [s.get(field, 0) for s in self.seen]
            assert totals == sorted(totals), f"{field} went down: {totals}"
        causes: dict[int, str] = {}
        for s in self.seen:
            for item in s.get("history") or ():
                assert causes.setdefault(item["restart"], item["reason"]) == item["reason"], item
