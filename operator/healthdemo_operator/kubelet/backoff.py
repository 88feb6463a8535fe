"""The kubelet's CrashLoopBackOff, as the kubelet computes it, for one node. Pure.

Read in the kubelet (`kuberuntime` doBackOff, `newCrashLoopBackOff`, client-go's flowcontrol
Backoff): a container that exits is restarted at once the first time, and the kubelet then
remembers a back-off of `initial` (10 s); each later exit waits that long from the container's
finish before the restart, and doubles it up to the node's cap (300 s, or the kubelet
configuration's `crashLoopBackOff.maxContainerRestartPeriod`, feature KubeletCrashLoopBackOffMax,
on by default since 1.35; an initial above the cap is lowered to it). A container that ran longer
than 600 s before it exited starts over: restarted at once. Alpha ReduceDefaultCrashLoopBackOffDecay
makes it 1 s doubling to 60 s. The back-off lives in the kubelet's memory: a kubelet restart
forgets it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESET_AFTER_SECONDS = 600.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True, slots=True)
class Policy:
    initial: float
    cap: float
    known: bool  # read from the node's own configuration (else Kubernetes' defaults, assumed)
    source: str = "Kubernetes' defaults (the node's configuration was not read)"

    def dump(self) -> dict[str, Any]:
        """As status.expected.backOff shows it."""
        return {
            "initialSeconds": self.initial,
            "maxSeconds": self.cap,
            "resetAfterSeconds": RESET_AFTER_SECONDS,
            "fromNode": self.known,
            "source": self.source,
        }


DEFAULT = Policy(initial=10.0, cap=300.0, known=False)


def unread(reason: str) -> Policy:
    """The defaults, saying why the node's own schedule is not known."""
    return Policy(
        DEFAULT.initial, DEFAULT.cap, known=False, source=f"Kubernetes' defaults: {reason}"
    )


def duration(text: str) -> float | None:
    """A Go duration ("2s", "1m30s", "300ms") in seconds; None if it is not one."""
    parts = _DURATION.findall(text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


def policy_of(configz: Mapping[str, Any], node: str = "") -> Policy:
    """The node's back-off from the kubelet's `/configz` answer."""
    config = configz.get("kubeletconfig") or {}
    gates: Mapping[str, bool] = config.get("featureGates") or {}
    initial, cap = DEFAULT.initial, DEFAULT.cap
    if gates.get("ReduceDefaultCrashLoopBackOffDecay"):
        initial, cap = 1.0, 60.0
    configured = duration(
        str((config.get("crashLoopBackOff") or {}).get("maxContainerRestartPeriod") or "")
    )
    if configured is not None and gates.get("KubeletCrashLoopBackOffMax", True):
        cap = configured
        initial = min(initial, cap)
    return Policy(
        initial=initial, cap=cap, known=True, source=f"the kubelet of node {node} (/configz)"
    )


def expected_wait(
    policy: Policy, backoff: float | None, *, first: bool, lived: float | None
) -> tuple[float | None, float | None]:
    """The wait the kubelet should put before this restart, and its back-off after it;
    `backoff`: the back-off the previous restart left (None: not known), `first`: the first
    restart of this container in this Pod, `lived`: how long the container that ended ran."""
    if first or (lived is not None and lived > RESET_AFTER_SECONDS):
        return 0.0, policy.initial
    if backoff is None:
        return None, None
    return backoff, min(backoff * 2, policy.cap)
