"""The kubelet's own probe counters, from its `/metrics/probes`: pure parsing, and what the rest
of the operator knows of one Pod's counters.

`prober_probe_total{probe_type, result, namespace, pod, pod_uid, container}` counts every probe the
kubelet ran and is never rate-limited, unlike its Events. A series exists from a container's
first probe until the Pod's probe worker stops (the Pod is deleted, or the kubelet restarts), and
it spans container restarts: so for a live Pod it is the exact number so far. The same page has
the kubelet's `process_start_time_seconds`: a restarted kubelet counts again from zero, and its
new start time says so even where its new counts have not gone below the old ones.

A node's text has series for every Pod there, ours or not, and a histogram per probe: a cheap
line filter keeps only our counter's lines, which `prometheus_client`'s own parser then reads
(escapes, label order, exponents: the Prometheus text format, not a regular expression of ours).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from prometheus_client.parser import text_string_to_metric_families

METRIC = "prober_probe_total"
STARTED = "process_start_time_seconds"  # the kubelet's, on the same page
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ProbeCounts:
    """One Pod's container: probes that failed, by probe type ("Liveness", ...)."""

    failed: Mapping[str, int] = field(default_factory=dict)
    # When the kubelet process that counted them started (its process_start_time_seconds): a
    # new start means new counters, from zero, whatever the counts look like.
    kubelet_started: float | None = None

    def failures(self, probe_type: str) -> int:
        return self.failed.get(probe_type, 0)


# How a kubelet is read: at its own port, or through the API server's node proxy.
Route = Literal["Kubelet", "APIServerProxy"]


@dataclass(frozen=True, slots=True)
class PodCounters:
    """What the kubelet's probe counters say about one Pod."""

    counts: ProbeCounts | None  # the latest counts the kubelet showed for it (None: none yet)
    at: datetime | None  # ...read at
    error: str | None = None  # the latest read of its node failed: why
    route: Route | None = None  # how its node's kubelet was read


def parse(text: str, container: str) -> dict[str, ProbeCounts]:
    """Pod UID → the counts of `container`, from the Prometheus text the kubelet serves."""
    prefix = METRIC + "{"
    ours = "\n".join(line for line in text.splitlines() if line.startswith((prefix, STARTED + " ")))
    failed: dict[str, dict[str, int]] = {}
    started: float | None = None
    for family in text_string_to_metric_families(ours + "\n"):
        for sample in family.samples:
            if sample.name == STARTED:
                started = sample.value
                continue
            labels = sample.labels
            if labels.get("container") != container or "pod_uid" not in labels:
                continue
            counts = failed.setdefault(labels["pod_uid"], {})
            if labels.get("result") == FAILED:
                counts[labels.get("probe_type", "")] = int(sample.value)
    return {
        uid: ProbeCounts(failed=counts, kubelet_started=started) for uid, counts in failed.items()
    }
