"""The kubelet stand-in that the API-level tests read counters from speaks the real kubelet's
format, checked against this release's kubelet: the same families, help texts, series and label
names in the same order, and the operator's parser reads the same counts from both. So the
stand-in cannot drift from the kubelet it stands for."""

from __future__ import annotations

import re

import pytest
from healthdemo_operator.kubelet.probe_counters import parse
from healthdemo_operator.names import CONTAINER_NAME
from healthdemo_sandbox.kubeletstandin import StandInPod, probes_text

from ..conftest import eventually
from .conftest import Cluster
from .exact_counts import kubelet_probe_totals
from .test_e2e import start_demo

pytestmark = pytest.mark.node

_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} \S+$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def shape(text: str, namespace: str, pod: str) -> tuple[set[str], set[tuple[str, ...]]]:
    """The HELP and TYPE lines, and one Pod's series as (name, its label names in order):
    everything but the values."""
    comments = {line for line in text.splitlines() if line.startswith("# ")}
    series = set()
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if not found:
            continue
        labels = dict(_LABEL.findall(found["labels"]))
        if labels.get("namespace") == namespace and labels.get("pod") == pod:
            keys = tuple(key for key, _ in _LABEL.findall(found["labels"]))
            series.add((found["name"], *keys))
    return comments, series


def test_the_standin_speaks_the_real_kubelets_format(deployed: Cluster, namespace: str) -> None:
    demo = start_demo(
        deployed, namespace, "format", readinessProbe={"periodSeconds": 1, "failureThreshold": 1}
    )
    pod = demo.pod()
    name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
    demo.call("/readyz/disable", method="POST")  # failed readiness probes: a failed series
    eventually(
        lambda: kubelet_probe_totals(deployed, uid).get(("Readiness", "failed")),
        what="failed readiness probes counted",
    )
    code, real = deployed.node.kubelet_get("/metrics/probes")
    assert code == 200, real
    counts = parse(real, CONTAINER_NAME)[uid]
    standin = probes_text([StandInPod(namespace, name, uid, failed=dict(counts.failed))])

    real_comments, real_series = shape(real, namespace, name)
    standin_comments, standin_series = shape(standin, namespace, name)
    assert standin_comments <= real_comments
    assert standin_series == real_series
    # What the operator reads from the stand-in is what it reads from the kubelet.
    from_standin = parse(standin, CONTAINER_NAME)[uid]
    for probe in ("Liveness", "Readiness", "Startup"):
        assert from_standin.failures(probe) == counts.failures(probe), probe
