"""The probe math a HealthDemo's spec implies, in seconds: what the kubelet should do, and when.
Pure; shown in `status.expected` next to what was measured, because that is the lesson.

The kubelet probes every periodSeconds and acts on failureThreshold failures in a row, so the
first failure is followed by the kill (or "not ready") (failureThreshold - 1) * periodSeconds
later; from the moment the app breaks, up to one more period passes before the first failing
probe. A hang makes each failing probe last timeoutSeconds longer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _acts(probe: Mapping[str, Any]) -> dict[str, int]:
    period, threshold = int(probe["periodSeconds"]), int(probe["failureThreshold"])
    return {
        "firstFailureToActSeconds": (threshold - 1) * period,
        "breakToActMaxSeconds": threshold * period,
        "hangAddsSeconds": int(probe["timeoutSeconds"]),
    }


def probe_math(spec: Mapping[str, Any]) -> dict[str, Any]:
    """`status.expected` for an effective spec (podspec.effective)."""
    result: dict[str, Any] = {"liveness": _acts(spec["livenessProbe"])}
    readiness = spec.get("readinessProbe")
    if readiness is not None:
        result["readiness"] = {
            **_acts(readiness),
            "backInServiceSeconds": (int(readiness["successThreshold"]) - 1)
            * int(readiness["periodSeconds"]),
        }
    startup = spec.get("startupProbe")
    if startup is not None:
        budget = int(startup["initialDelaySeconds"]) + int(startup["failureThreshold"]) * int(
            startup["periodSeconds"]
        )
        result["startup"] = {
            "budgetSeconds": budget,
            "appStartsInSeconds": int(spec.get("startupDelaySeconds") or 0),
            "fitsBudget": int(spec.get("startupDelaySeconds") or 0) < budget,
        }
    elif spec.get("startupDelaySeconds"):
        liveness = spec["livenessProbe"]
        patience = int(liveness["initialDelaySeconds"]) + int(liveness["failureThreshold"]) * int(
            liveness["periodSeconds"]
        )
        # Without a startup probe the liveness probe judges the starting app.
        result["startup"] = {
            "budgetSeconds": patience,
            "appStartsInSeconds": int(spec["startupDelaySeconds"]),
            "fitsBudget": int(spec["startupDelaySeconds"]) < patience,
            "judgedBy": "livenessProbe",
        }
    sidecar = spec.get("sidecar")
    if sidecar is not None:  # keyed by its container's name, as history items name it
        result["sidecar"] = {"liveness": _acts(sidecar["livenessProbe"])}
    return result
