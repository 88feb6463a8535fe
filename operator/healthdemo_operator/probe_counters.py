"""The kubelet's own probe counters, from its `/metrics/probes`: pure parsing.

`prober_probe_total{probe_type, result, namespace, pod, pod_uid, container}` counts every probe the
kubelet ran and is never rate-limited, unlike its Events. A series exists from a container's
first probe until the Pod's probe worker stops (the Pod is deleted, or the kubelet restarts), and
it spans container restarts: so for a live Pod it is the exact number so far.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

METRIC = "prober_probe_total"
PROBE_TYPES = ("Liveness", "Readiness", "Startup")
FAILED = "failed"
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ProbeCounts:
    """One Pod's container: probes that failed, by probe type ("Liveness", ...)."""

    failed: Mapping[str, int] = field(default_factory=dict)

    def failures(self, probe_type: str) -> int:
        return self.failed.get(probe_type, 0)


def parse(text: str, container: str) -> dict[str, ProbeCounts]:
    """Pod UID → the counts of `container`, from the Prometheus text the kubelet serves."""
    failed: dict[str, dict[str, int]] = {}
    prefix = METRIC + "{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue  # HELP/TYPE lines, the duration histograms
        labels_part, _, value = line[len(prefix) :].rpartition("} ")
        labels = dict(_LABEL.findall(labels_part))
        if labels.get("container") != container or "pod_uid" not in labels:
            continue
        counts = failed.setdefault(labels["pod_uid"], {})
        if labels.get("result") == FAILED:
            counts[labels.get("probe_type", "")] = int(float(value.split()[0]))
    return {uid: ProbeCounts(failed=counts) for uid, counts in failed.items()}
