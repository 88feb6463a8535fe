"""Every Kubernetes API call the operator makes, with the official client; dicts in, dicts out.

Blocking calls: the async code runs them with `asyncio.to_thread`. The client is configured by
Kopf's login (`kopf.login_via_client`), so both use the same credentials — also for the one call
that goes to a kubelet rather than the API server (its probe counters), made with the client's
own transport (urllib3), certificates and token.
"""

from __future__ import annotations

import datetime
import json
import socket
from collections.abc import Mapping
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from healthdemo_operator import __version__, names

__all__ = ["ApiException", "Kube", "KubeletRefused"]

MAX_MESSAGE = 1024  # events.k8s.io limit; core/v1 has none, but kubectl describe truncates


class KubeletRefused(Exception):
    """The kubelet answered, but not 200."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:200]}")
        self.status = status


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Kube:
    """A thin, typed facade over the few endpoints the operator uses."""

    def __init__(
        self, api_client: client.ApiClient | None = None, *, kubelet_tls_verify: bool = True
    ) -> None:
        self._api = api_client or client.ApiClient()
        # Say who calls, in the API server's audit log and metrics.
        self._api.user_agent = f"{names.COMPONENT}/{__version__}"
        self.core = client.CoreV1Api(self._api)
        self.custom = client.CustomObjectsApi(self._api)
        self.instance = socket.gethostname()
        config = self._api.configuration
        # Kubelets serve a certificate of their own: signed by the cluster CA where the cluster
        # issues them, self-signed on kind and minikube (then verification must be switched off).
        self._kubelet_pool = urllib3.PoolManager(
            num_pools=16,
            cert_reqs="CERT_REQUIRED" if kubelet_tls_verify else "CERT_NONE",
            ca_certs=config.ssl_ca_cert if kubelet_tls_verify else None,
            cert_file=config.cert_file,
            key_file=config.key_file,
        )

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

    # -- Nodes and their kubelets ---------------------------------------------------------------

    def kubelet_endpoint(self, node: str) -> tuple[str, int]:
        """Where the node's kubelet serves: its InternalIP and the port it registered."""
        status = self._json(self.core.read_node(node, _preload_content=False)).get("status") or {}
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        address = next(
            (addresses[t] for t in ("InternalIP", "ExternalIP", "Hostname") if addresses.get(t)),
            node,
        )
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        return str(address), int(port or 10250)

    def kubelet_get(self, address: str, port: int, path: str, timeout: float = 5) -> str:
        """GET a kubelet endpoint as the operator (authorized by the kubelet: `nodes/metrics`)."""
        host = f"[{address}]" if ":" in address else address
        headers = {
            auth["key"]: auth["value"]
            for auth in self._api.configuration.auth_settings().values()
            if auth.get("in") == "header" and auth.get("value")
        }
        response = self._kubelet_pool.request(
            "GET", f"https://{host}:{port}{path}", headers=headers, timeout=timeout, retries=False
        )
        body = response.data.decode(errors="replace")
        if response.status != 200:
            raise KubeletRefused(response.status, body)
        return body

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
