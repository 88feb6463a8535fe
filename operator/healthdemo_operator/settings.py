"""Everything the operator reads from its environment, in one place, read once at start-up.

A bad value stops the operator with one line that names the variable and what to give — never a
traceback at import, and never a default silently used instead of what was asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

METRICS_PORT = "HEALTHDEMO_METRICS_PORT"
KUBELET_POLL_SECONDS = "HEALTHDEMO_KUBELET_POLL_SECONDS"
KUBELET_INSECURE_TLS = "HEALTHDEMO_KUBELET_INSECURE_TLS"
PEERING_LIFETIME = "HEALTHDEMO_PEERING_LIFETIME"
_TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")


class SettingError(ValueError):
    """One environment variable has a value the operator cannot use; the message says which."""


@dataclass(frozen=True)
class Settings:
    metrics_port: int = 9090  # /metrics; 0 serves none
    kubelet_poll_seconds: float = 5.0  # how often each node's probe counters are read
    kubelet_tls_verify: bool = True  # off for kind's and minikube's self-signed kubelet certs
    peering_lifetime: int = 30  # seconds before a stand-by replica takes over

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        defaults = cls()

        def raw(name: str) -> str:
            return environ.get(name, "").strip()

        return cls(
            metrics_port=_number(
                METRICS_PORT, raw(METRICS_PORT), defaults.metrics_port, low=0, high=65535,
                hint="give a port number (0 serves no metrics)",
            ),
            kubelet_poll_seconds=_seconds(
                KUBELET_POLL_SECONDS, raw(KUBELET_POLL_SECONDS), defaults.kubelet_poll_seconds
            ),
            kubelet_tls_verify=not _flag(KUBELET_INSECURE_TLS, raw(KUBELET_INSECURE_TLS)),
            peering_lifetime=_number(
                PEERING_LIFETIME, raw(PEERING_LIFETIME), defaults.peering_lifetime, low=1,
                high=3600, hint="give whole seconds, 1 to 3600",
            ),
        )  # fmt: skip


def _number(name: str, raw: str, default: int, *, low: int, high: int, hint: str) -> int:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SettingError(f"{name}={raw!r}: {hint}")
    return value


def _seconds(name: str, raw: str, default: float) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0.1 <= value <= 3600:
        raise SettingError(f"{name}={raw!r}: give seconds, 0.1 to 3600")
    return value


def _flag(name: str, raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingError(f"{name}={raw!r}: give true or false")
