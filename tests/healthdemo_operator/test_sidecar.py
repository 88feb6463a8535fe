"""The sidecar lesson without a server: the Pod it asks for, and how a sidecar's restarts are
counted (initContainerStatuses, its own journal, its own Events) apart from the webapp's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from healthdemo_operator import podspec
from healthdemo_operator.healthdemo import HealthDemo
from healthdemo_operator.observations import event_view, pod_view
from healthdemo_operator.status.record import record
from healthdemo_operator.status.status import Status

from .kubelet_data import OWNER_UID, event, liveness_kill_termination, pod

RAW_SPEC: dict[str, Any] = {
    "livenessProbe": {"periodSeconds": 1, "failureThreshold": 2},
    "sidecar": {"livenessProbe": {"periodSeconds": 1, "failureThreshold": 3}},
}
SPEC = podspec.effective(RAW_SPEC)
LIVENESS_500 = "Liveness probe failed: HTTP probe failed with statuscode: 500"
NOW = datetime(2026, 11, 30, 10, 1, tzinfo=UTC)


def journal_message(*exits: dict[str, Any]) -> str:
    body = {"containers": len(exits) + 1, "livenessFailures": 3, "exits": list(exits)}
    return "healthdemo-journal/v1 " + json.dumps(body)


def with_sidecar(
    raw: dict[str, Any], *, restarts: int, message: str | None = None
) -> dict[str, Any]:
    """`raw` (a Pod from kubelet_data) with the sidecar the spec asks for, restarted."""
    raw["spec"].update(podspec.build_pod(demo())["spec"])
    last = liveness_kill_termination(container_id="containerd://s1") if restarts else None
    if last is not None and message is not None:
        last["message"] = message
    raw["status"]["initContainerStatuses"] = [
        {
            "name": "sidecar",
            "restartCount": restarts,
            "ready": True,
            "started": True,
            "containerID": "containerd://s2",
            "state": {"running": {"startedAt": "2026-11-30T10:00:36Z"}},
            "lastState": {"terminated": last} if last else {},
        }
    ]
    return raw


def demo(spec: dict[str, Any] | None = None) -> HealthDemo:
    body = {"spec": RAW_SPEC if spec is None else spec}
    meta = {"name": "demo", "namespace": "default", "uid": OWNER_UID, "generation": 1}
    return HealthDemo.of({"metadata": meta, **body})


def run(
    pods: list[dict[str, Any]],
    events: list[dict[str, Any]] | None = None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return record(
        previous=previous or {},
        spec=SPEC,
        generation=1,
        pod_name="demo-webapp",
        pods=[pod_view(p) for p in pods],
        events=[event_view(e) for e in events or []],
        problem=None,
        now=NOW,
    ).status


def test_the_sidecar_is_the_webapp_again_on_its_own_ports() -> None:
    spec = podspec.build_pod(demo())["spec"]
    (sidecar,) = spec["initContainers"]
    assert sidecar["name"] == "sidecar"
    assert sidecar["restartPolicy"] == "Always"
    env = {e["name"]: e["value"] for e in sidecar["env"]}
    assert env["PORT"] == "5100"
    assert (env["WEBAPP_TCP_LIVENESS_PORT"], env["WEBAPP_GRPC_PORT"]) == ("5101", "5103")
    assert sidecar["livenessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": 5100,
        "scheme": "HTTP",
    }
    assert sidecar["livenessProbe"]["failureThreshold"] == 3
    mounts = {m["name"] for m in sidecar["volumeMounts"]}
    webapp_mounts = {m["name"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts.isdisjoint(webapp_mounts)  # each keeps its own journal
    ports = [p["containerPort"] for c in (sidecar, spec["containers"][0]) for p in c["ports"]]
    assert len(ports) == len(set(ports))


def test_no_sidecar_unless_asked() -> None:
    assert "sidecar" not in podspec.effective({})
    assert "initContainers" not in podspec.build_pod(demo({}))["spec"]


def test_the_webapp_may_not_take_the_sidecars_port() -> None:
    spec = podspec.effective({"port": 5100, "sidecar": {}})
    assert any("5100" in problem for problem in podspec.validate("demo", spec))
    assert podspec.validate("demo", podspec.effective({"port": 5100})) == []


def test_a_sidecar_restart_is_counted_as_the_sidecars() -> None:
    sigterm = {"c": 0, "cause": "sigterm", "at": "2026-11-30T10:00:35Z", "streak": 3,
               "since": "2026-11-30T10:00:33Z"}  # fmt: skip
    status = run([with_sidecar(pod(), restarts=1, message=journal_message(sigterm))])
    assert status["restarts"] == 1
    assert status["containerRestarts"] == {"sidecar": 1}
    assert status["restartReasons"] == {"LivenessProbe": 1}
    (item,) = status["history"]
    assert (item["container"], item["reason"], item["evidence"]) == (
        "sidecar",
        "LivenessProbe",
        "Journal",
    )
    assert item["probeFailures"] == 3  # the sidecar's failureThreshold, not the webapp's 2
    assert (item["measuredSeconds"], item["expectedSeconds"]) == (2.0, 2)
    assert status["expected"]["sidecar"]["liveness"]["firstFailureToActSeconds"] == 2
    assert status["probeFailures"] == 0  # the webapp's probe never failed


def test_a_sidecar_without_a_journal_pairs_only_its_own_killing_event() -> None:
    def killing(container: str, uid: str) -> dict[str, Any]:
        raw = event(uid=uid, reason="Killing", event_type="Normal",
                    message=f"Container {container} failed liveness probe, will be restarted",
                    last="2026-11-30T10:00:34Z")  # fmt: skip
        kind = "containers" if container == "webapp" else "initContainers"
        raw["involvedObject"]["fieldPath"] = f"spec.{kind}{{{container}}}"
        return raw

    webapp_kill_only = run([with_sidecar(pod(), restarts=1)], [killing("webapp", "k1")])
    assert webapp_kill_only["history"][0]["reason"] == "Exited"  # not the webapp's kill
    paired = run([with_sidecar(pod(), restarts=1)], [killing("sidecar", "k2")])
    assert paired["history"][0]["reason"] == "LivenessProbe"
    assert paired["history"][0]["evidence"] == "KillingEvent"


def test_the_sidecars_probe_failures_are_not_the_webapps() -> None:
    failed = event(uid="e1", reason="Unhealthy", count=2, message=LIVENESS_500)
    failed["involvedObject"]["fieldPath"] = "spec.initContainers{sidecar}"
    status = run([with_sidecar(pod(), restarts=0)], [failed])
    assert status["probeFailures"] == 0


def test_both_containers_add_up() -> None:
    raw = with_sidecar(pod(restarts=2, last_terminated=liveness_kill_termination()), restarts=1)
    status = run([raw])
    assert status["restarts"] == 3
    assert status["containerRestarts"] == {"webapp": 2, "sidecar": 1}
    again = run([raw], previous=status)
    assert (again["restarts"], again["containerRestarts"]) == (3, {"webapp": 2, "sidecar": 1})


def test_a_status_from_before_sidecars_counts_its_restarts_as_the_webapps() -> None:
    assert Status.load({"restarts": 4}).container_restarts == {"webapp": 4}
