"""One HealthDemo as the controller needs it: parsed once per watch event, immutable.

The spec is kept with every default filled in (`podspec.effective`) and checked once
(`podspec.validate`), so a reconcile, the Pod it builds and the status it records all read the
same values; the raw body is not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthdemo_operator import names, podspec


@dataclass(frozen=True, slots=True)
class HealthDemo:
    uid: str
    name: str
    namespace: str
    generation: int
    resource_version: str
    spec: Mapping[str, Any]  # effective: every default filled in
    problems: tuple[str, ...]  # what the API server accepted but no Pod can be built from
    status: Mapping[str, Any]  # as the server last showed it (never changed in place)

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> HealthDemo:
        meta = body["metadata"]
        spec = podspec.effective(body.get("spec"))
        return cls(
            uid=meta["uid"],
            name=meta["name"],
            namespace=meta["namespace"],
            generation=int(meta.get("generation") or 1),
            resource_version=str(meta.get("resourceVersion") or ""),
            spec=spec,
            problems=tuple(podspec.validate(meta["name"], spec)),
            status=dict(body.get("status") or {}),
        )

    @property
    def pod_name(self) -> str:
        """Replica 0's Pod: the one a HealthDemo of one replica has."""
        return podspec.pod_name(self.name)

    def pod_name_of(self, replica: int) -> str:
        return podspec.pod_name(self.name, replica)

    @property
    def replicas(self) -> int:
        return int(self.spec.get("replicas") or 1)

    @property
    def reference(self) -> dict[str, str]:
        """The HealthDemo as an Event's `involvedObject` or an owner reference names it."""
        return {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
        }
