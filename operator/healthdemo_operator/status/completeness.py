"""The CountsComplete condition: exact, or which numbers are lower bounds and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from healthdemo_operator.kubelet.probe_counters import PodCounters
from healthdemo_operator.observations import PodView
from healthdemo_operator.status.ledger import Ledger

State = tuple[str, str, str]  # a condition's (status, reason, message)


def counts_complete(
    pods: Sequence[PodView],
    counters: Mapping[str, PodCounters],
    ledger: Ledger,
    restart_reasons: Mapping[str, int],
) -> State:
    """The CountsComplete condition: (status, reason, message)."""
    lower: list[tuple[str, str]] = []
    for pod in pods:
        reading = counters.get(pod.uid)
        if pod.node_name and not pod.gone and reading is not None and reading.error:
            lower.append(("KubeletUnreadable", f"probeFailures (Events only): {reading.error}"))
            break
    for gap in ledger.gaps:
        lower.append((gap.reason, gap.message))
    unknown = int(restart_reasons.get("Unknown", 0))
    if unknown:
        lower.append(
            (
                "RestartCausesUnknown",
                f"the cause of {unknown} restart(s) is not known, so the other causes "
                "in restartReasons are lower bounds",
            )
        )
    if not lower:
        return (
            "True",
            "Exact",
            "restarts, their causes and probe failures are exact (Pod status, the webapp's "
            "journal, the kubelet's probe counters)",
        )
    return "False", lower[0][0], "Lower bounds: " + "; ".join(m for _, m in lower)
