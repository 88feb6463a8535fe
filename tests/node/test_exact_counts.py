"""Exact counts far past the kubelet's Event budget, on the real node: the status equals what the
kubelet counted (its `prober_probe_total`) and what the Pod status says, restart by restart; for
an image that keeps no journal, the status says which numbers are lower bounds instead."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from ..conftest import Scraped, eventually
from .conftest import Cluster
from .exact_counts import (
    EVENT_BURST,
    PROBE,
    RESTARTS,
    ROUNDS,
    Webapp,
    kubelet_probe_totals,
    truth,
)

pytestmark = pytest.mark.node

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # on the node already: it is the Pod sandbox


def start(cluster: Cluster, namespace: str, name: str, **spec: Any) -> Webapp:
    cluster.apply(
        {
            "apiVersion": "demo.example.com/v1",
            "kind": "HealthDemo",
            "metadata": {"name": name},
            "spec": {"livenessProbe": dict(PROBE), **spec},
        },
        namespace,
    )
    app = Webapp(cluster, namespace, name)
    eventually(
        lambda: cluster.kubectl("get", "pod", app.pod_name, "-n", namespace, check=False)
        .returncode == 0,
        timeout=90,
        what=f"{name}'s Pod",
    )  # fmt: skip
    return app


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c["type"] == kind), {}
    )
    return found


def recorded_exactly(
    app: Webapp, expected: dict[str, Any], restarts: int, lower_bound: str | None = None
) -> dict[str, Any]:
    """The status, once it has caught up with the truth; then every field is checked. With
    `lower_bound`, the numbers are right but the status cannot know it: it says that reason."""
    last: list[dict[str, Any]] = [{}]

    def caught_up() -> dict[str, Any] | None:
        last[0] = s = app.status()
        exact = s.get("probeFailures") == expected["kubeletFailures"]
        return s if exact and s.get("restarts") == expected["restarts"] else None

    try:
        status: dict[str, Any] = eventually(
            caught_up, timeout=45, what=f"{app.name}: the truth {expected}"
        )
    except AssertionError as exc:
        told = {k: last[0].get(k) for k in ("probeFailures", "restarts", "conditions")}
        raise AssertionError(f"{exc}; the status said {told}") from None
    assert status["restartReasons"] == {"LivenessProbe": restarts}
    assert [(h["restart"], h["reason"]) for h in status["history"]] == [
        (n, "LivenessProbe") for n in range(restarts, restarts - len(status["history"]), -1)
    ]
    assert len(status["history"]) == min(restarts, 10)
    assert all(h["evidence"] == "Journal" and h["time"] for h in status["history"])
    counts = condition(status, "CountsComplete")
    expected_condition = ("False", lower_bound) if lower_bound else ("True", "Exact")
    assert (counts["status"], counts["reason"]) == expected_condition, status["conditions"]
    return status


def test_counts_stay_exact_far_past_the_event_budget(deployed: Cluster, namespace: str) -> None:
    app = start(deployed, namespace, "budget")
    for _ in range(ROUNDS):
        app.fail_below_the_threshold()
    for _ in range(RESTARTS):
        app.fail_until_restarted()

    expected = truth(app)
    assert expected["restarts"] == RESTARTS
    # The webapp decides each answer when it arrives: exactly the failures it was told to give.
    assert expected["webappFailures"] == 2 * ROUNDS + PROBE["failureThreshold"] * RESTARTS, expected
    # The kubelet counts those, and any probe refused while a new container was starting.
    assert expected["kubeletFailures"] >= expected["webappFailures"]
    # Past the budget indeed: the Events tell far fewer than happened.
    assert expected["eventFailures"] <= EVENT_BURST + 1 < expected["kubeletFailures"]
    recorded_exactly(app, expected, RESTARTS)
    print(
        f"\npast the Event budget: {ROUNDS} rounds below the threshold + {RESTARTS} liveness "
        f"restarts; truth: kubelet {expected['kubeletFailures']} failed, webapp "
        f"{expected['webappFailures']}, Events {expected['eventFailures']}, restartCount "
        f"{expected['restarts']}; status equal",
        file=sys.stderr,
    )


def test_a_foreign_image_gets_lower_bounds_never_wrong_numbers(
    deployed: Cluster, namespace: str
) -> None:
    """The pause image keeps no journal and ignores the probe (nothing listens on 5000): every
    probe fails, the kubelet kills it, it exits 0. Once the kubelet's Normal Events run out, a
    restart's cause is unknowable — the status must say so, not guess."""
    app = start(deployed, namespace, "foreign", image=PAUSE_IMAGE, imagePullPolicy="Never")
    eventually(lambda: app.restarts() >= 9, timeout=240, what="9 restarts of the pause image")

    before = truth_without_webapp(app)
    status = eventually(
        lambda: (
            (s := app.status()).get("restarts", 0) >= before["restarts"]
            and s.get("probeFailures", 0) >= before["kubeletFailures"]
            and condition(s, "CountsComplete").get("reason") == "RestartCausesUnknown"
            and s
        ),
        timeout=45,
        what="the status caught up, with restart causes unknown",
    )
    after = truth_without_webapp(app)
    # Never more than happened, never less than was seen.
    assert before["restarts"] <= status["restarts"] <= after["restarts"]
    assert before["kubeletFailures"] <= status["probeFailures"] <= after["kubeletFailures"]
    reasons = status["restartReasons"]
    assert set(reasons) <= {"LivenessProbe", "Unknown"}, reasons
    assert sum(reasons.values()) == status["restarts"]
    assert reasons.get("Unknown", 0) > 0
    # A restart is called a liveness kill only on the kubelet's word (its Killing Event).
    assert reasons.get("LivenessProbe", 0) <= after["killingEvents"]
    assert all(
        h["reason"] == "LivenessProbe" or ("detail" in h and h["evidence"] == "None")
        for h in status["history"]
    ), status["history"]
    counts = condition(status, "CountsComplete")
    assert counts["status"] == "False"
    assert "lower bound" in counts["message"]
    listed = deployed.kubectl(
        "get", "events", "-n", namespace, "-o",
        "jsonpath={range .items[*]}{.type}/{.reason}/{.involvedObject.kind}{'\\n'}{end}",
    ).stdout.splitlines()  # fmt: skip
    warnings = [e for e in listed if e == "Warning/CountsIncomplete/HealthDemo"]
    assert warnings, "no Warning Event said the counts are incomplete"
    print(
        f"\nforeign image: {status['restarts']} restarts recorded as {reasons}, "
        f"{status['probeFailures']} probe failures (kubelet {before['kubeletFailures']}..."
        f"{after['kubeletFailures']}), Killing Events {after['killingEvents']}",
        file=sys.stderr,
    )


def truth_without_webapp(app: Webapp) -> dict[str, int]:
    pod = app.pod()
    totals = kubelet_probe_totals(app.cluster, pod["metadata"]["uid"])
    killing = sum(
        e.get("count") or 1
        for e in app.cluster.events(app.pod_name, app.namespace)
        if e["reason"] == "Killing" and "failed liveness probe" in e["message"]
    )
    (container,) = pod["status"]["containerStatuses"]
    return {
        "restarts": container["restartCount"],
        "kubeletFailures": totals.get(("Liveness", "failed"), 0),
        "killingEvents": killing,
    }


# What the kubelet asks the API server for each path it serves to GET (fine-grained kubelet
# authorization, on by default since 1.33 and GA in 1.36: the specific subresource first, then
# nodes/proxy). Paths a kubelet does not serve answer 404 before any authorization (1.35's
# /flagz and /statusz, behind alpha gates), so only served ones prove anything.
KUBELET_REFUSED = {
    "/pods": "[pods proxy]",
    "/runningpods/": "[pods proxy]",
    "/healthz": "[healthz proxy]",
    "/stats/summary": "[stats]",
    "/logs/": "[log]",
    "/containerLogs/default/x/y": "[proxy]",
    "/exec/default/x/y?command=true": "[proxy]",
    "/debug/pprof/": "[proxy]",
}
# nodes/metrics opens every /metrics path, not just the probe counters the operator reads: the
# kubelet has no finer grant for them.
KUBELET_ALLOWED = ("/metrics/probes", "/metrics", "/metrics/cadvisor", "/metrics/resource",
                   "/configz")  # nodes/configz: the node's back-off schedule  # fmt: skip
PROBE_TOTAL_LABELS = frozenset({"container", "namespace", "pod", "pod_uid", "probe_type", "result"})


def test_the_operator_may_read_probe_counters_from_the_kubelet_and_nothing_more(
    deployed: Cluster,
) -> None:
    """`nodes/metrics` is granted, and it is all: the kubelet itself refuses every other path,
    whichever subresource this release asks about."""

    def probe_counters() -> str | None:
        code, text = deployed.node.kubelet_get("/metrics/probes", user="operator")
        assert code == 200, text
        return text if "prober_probe_total{" in text else None

    # The operator's own Pod has a liveness probe: its first run makes the first series (a test
    # run alone may ask before it).
    text = eventually(probe_counters, timeout=60, what="a prober_probe_total series")
    # A BETA metric (ALPHA before 1.35): its labels may change, and the operator keys on them.
    label_sets = {frozenset(labels) for labels in Scraped.parse(text).series("prober_probe_total")}
    assert label_sets == {PROBE_TOTAL_LABELS}, label_sets
    for path in KUBELET_ALLOWED:
        assert deployed.node.kubelet_get(path, user="operator")[0] == 200, path
    for path, subresources in KUBELET_REFUSED.items():
        code, text = deployed.node.kubelet_get(path, user="operator")
        assert (code, text.strip()) == (
            403,
            "Forbidden (user=system:serviceaccount:healthdemo-system:healthdemo-operator, "
            f"verb=get, resource=nodes, subresource(s)={subresources})",
        ), path
    # The admin may (system:masters): the refusals above are the operator's grants, not paths
    # this kubelet lacks.
    assert deployed.node.kubelet_get("/pods")[0] == 200
    assert deployed.node.kubelet_get("/configz")[0] == 200
