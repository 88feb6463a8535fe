"""Every Kubernetes API call the operator makes, with the official client; dicts in, dicts out.

Blocking calls: the async code runs them with `asyncio.to_thread`. The client is configured by
Kopf's login (`kopf.login_via_client`), so both use the same credentials.
"""

from __future__ import annotations

import datetime
import json
import socket
from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from healthdemo_operator import __version__, names

__all__ = ["ApiException", "Kube"]

MAX_MESSAGE = 1024  # events.k8s.io limit; core/v1 has none, but kubectl describe truncates


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Kube:
    """A thin, typed facade over the few endpoints the operator uses."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        self._api = api_client or client.ApiClient()
        # Say who calls, in the API server's audit log and metrics.
        self._api.user_agent = f"{names.COMPONENT}/{__version__}"
        self.core = client.CoreV1Api(self._api)
        self.custom = client.CustomObjectsApi(self._api)
        self.instance = socket.gethostname()

    @staticmethod
    def _json(response: Any) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(response.data)
        return result

    # -- Pods ----------------------------------------------------------------------------------

    def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._json(
                self.core.read_namespaced_pod(name, namespace, _preload_content=False)
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_pod(self, pod: Mapping[str, Any]) -> dict[str, Any]:
        namespace = pod["metadata"]["namespace"]
        return self._json(
            self.core.create_namespaced_pod(namespace, dict(pod), _preload_content=False)
        )

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete exactly that Pod (a UID precondition: never a newer one with the same name)."""
        body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        try:
            self.core.delete_namespaced_pod(name, namespace, body=body)
        except ApiException as exc:
            if exc.status not in (404, 409):  # already gone, or already replaced
                raise

    # -- HealthDemos ---------------------------------------------------------------------------

    def read_healthdemo(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.custom.get_namespaced_custom_object(
                names.GROUP, names.VERSION, namespace, names.PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def replace_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> str:
        """Write the whole status if the object is still at `resource_version`; returns the new
        one. A JSON Patch `test` makes a stale writer fail with 422 instead of losing data."""
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/status", "value": dict(status)},
        ]
        result: dict[str, Any] = self.custom.patch_namespaced_custom_object_status(
            names.GROUP,
            names.VERSION,
            namespace,
            names.PLURAL,
            name,
            patch,
            _content_type="application/json-patch+json",
        )
        version: str = result["metadata"]["resourceVersion"]
        return version

    # -- Events --------------------------------------------------------------------------------

    def post_event(
        self, owner: Mapping[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event about a HealthDemo, visible in `kubectl describe healthdemo`."""
        meta = owner["metadata"]
        now = _now()
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": names.API_VERSION,
                "kind": names.KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": event_type,
            "reason": reason,
            "message": message[:MAX_MESSAGE],
            "source": {"component": names.COMPONENT},
            "reportingComponent": names.COMPONENT,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.core.create_namespaced_event(meta["namespace"], body)
