"""Every Kubernetes API call the operator makes, with the official client; dicts in, dicts out.

Blocking calls: the async code runs them with `asyncio.to_thread`. The client is configured by
Kopf's login (`kopf.login_via_client`), so both use the same credentials — also for the one call
that goes to a kubelet rather than the API server (its probe counters), made with the client's
own transport (urllib3), certificates and token.

Each call goes through the client's request layer (`ApiClient.param_serialize` + `call_api`:
its configuration, credentials, user agent and connection pool), not its generated per-endpoint
methods: since kubernetes 37 those validate every argument and body against pydantic models.
For bodies the operator builds itself that buys nothing and costs much — building the V1Pod
model tree takes about 20 MB that is never given back, and validating a Pod about 1 ms of the
reaction to a new HealthDemo (bench/operator_bench.py).
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
from healthdemo_operator.healthdemo import HealthDemo

__all__ = ["ApiException", "Kube", "KubeletRefused", "one_line"]

MAX_MESSAGE = 1024  # events.k8s.io limit; core/v1 has none, but kubectl describe truncates
JSON = "application/json"
# (connect, read) seconds for one API request: a hung answer fails the reconcile, which is
# tried again from a fresh read, instead of holding a worker forever (a late write that lands
# afterwards is refused by the resourceVersion it was built on).
REQUEST_SECONDS = (10, 20)
HEALTHDEMOS = f"/apis/{names.GROUP}/{names.VERSION}/namespaces/{{namespace}}/{names.PLURAL}"


class KubeletRefused(Exception):
    """The kubelet answered, but not 200."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:200]}")
        self.status = status


def one_line(exc: BaseException) -> str:
    """An error as one log line: for an API error its code, reason and the server's message
    (the client's own text spans lines: headers, then the body)."""
    if not isinstance(exc, ApiException):
        return str(exc).replace("\n", " ")
    message = ""
    try:
        message = str(json.loads(exc.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        message = str(exc.body or "")
    return f"{exc.status} {exc.reason}: {message}".replace("\n", " ").strip()


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

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = JSON,
        **path_params: str,
    ) -> dict[str, Any]:
        """One request to the API server; raises ApiException (with its status) unless 2xx."""
        request = self._api.param_serialize(
            method,
            path,
            path_params=path_params,
            query_params=list(query.items()) if query else None,
            header_params={"Accept": JSON, "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*request, _request_timeout=REQUEST_SECONDS)
        response.read()
        text = response.data.decode("utf-8", errors="replace")
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        result: dict[str, Any] = json.loads(text)
        return result

    # -- Pods ----------------------------------------------------------------------------------

    def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call(
                "GET", "/api/v1/namespaces/{namespace}/pods/{name}", namespace=namespace, name=name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_pod(self, pod: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """`dry_run`: the Pod as the API server would store it (fields of features it lacks
        dropped), with nothing created."""
        namespace = pod["metadata"]["namespace"]
        return self._call(
            "POST",
            "/api/v1/namespaces/{namespace}/pods",
            body=pod,
            query={"dryRun": "All"} if dry_run else None,
            namespace=namespace,
        )

    def create_service(self, service: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(
            "POST",
            "/api/v1/namespaces/{namespace}/services",
            body=service,
            namespace=service["metadata"]["namespace"],
        )

    def resize_pod(
        self, namespace: str, name: str, uid: str, containers: Mapping[str, Any]
    ) -> None:
        """New resources for exactly that Pod's containers, in place (the `resize`
        subresource, GA since 1.35; `containers`: podspec.resize_patch); the UID precondition
        never touches a newer Pod."""
        patch = {"metadata": {"uid": uid}, "spec": dict(containers)}
        self._call(
            "PATCH",
            "/api/v1/namespaces/{namespace}/pods/{name}/resize",
            body=patch,
            content_type="application/strategic-merge-patch+json",
            namespace=namespace,
            name=name,
        )

    def annotate_pod(
        self, namespace: str, name: str, uid: str, annotations: Mapping[str, str]
    ) -> None:
        """Set annotations on exactly that Pod (a UID precondition)."""
        patch = {"metadata": {"uid": uid, "annotations": dict(annotations)}}
        self._call(
            "PATCH",
            "/api/v1/namespaces/{namespace}/pods/{name}",
            body=patch,
            content_type="application/strategic-merge-patch+json",
            namespace=namespace,
            name=name,
        )

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        """Delete exactly that Pod (a UID precondition: never a newer one with the same name)."""
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
        try:
            self._call(
                "DELETE",
                "/api/v1/namespaces/{namespace}/pods/{name}",
                body=options,
                namespace=namespace,
                name=name,
            )
        except ApiException as exc:
            if exc.status not in (404, 409):  # already gone, or already replaced
                raise

    # -- Nodes and their kubelets ---------------------------------------------------------------

    def kubelet_endpoint(self, node: str) -> tuple[str, int]:
        """Where the node's kubelet serves: its InternalIP and the port it registered."""
        status = self._call("GET", "/api/v1/nodes/{name}", name=node).get("status") or {}
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

    def node_proxy_get(self, node: str, path: str) -> str:
        """GET a kubelet endpoint through the API server's node proxy (`get nodes/proxy`): the
        route of an operator outside the cluster network run by an identity allowed it."""
        request = self._api.param_serialize(
            "GET",
            "/api/v1/nodes/{name}/proxy" + path,
            path_params={"name": node},
            header_params={"Accept": "text/plain, application/json"},
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*request, _request_timeout=REQUEST_SECONDS)
        response.read()
        body: str = response.data.decode("utf-8", errors="replace")
        if response.status != 200:
            raise KubeletRefused(response.status, body)
        return body

    def may(self, verb: str, resource: str, subresource: str = "") -> bool:
        """Whether this identity may `verb` the cluster-scoped `resource` (a
        SelfSubjectAccessReview: any authenticated identity may ask it about itself)."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "verb": verb,
                    "resource": resource,
                    "subresource": subresource,
                }
            },
        }
        answer = self._call(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review
        )
        return bool((answer.get("status") or {}).get("allowed"))

    # -- HealthDemos ---------------------------------------------------------------------------

    def read_healthdemo(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", HEALTHDEMOS + "/{name}", namespace=namespace, name=name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def replace_status(
        self, namespace: str, name: str, status: Mapping[str, Any], resource_version: str
    ) -> str:
        """Write the whole status if the object is still at `resource_version`; returns the new
        one. A JSON Patch `test` makes a stale writer fail with 422 instead of losing data."""
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "add", "path": "/status", "value": dict(status)},
        ]
        result = self._call(
            "PATCH",
            HEALTHDEMOS + "/{name}/status",
            body=patch,
            content_type="application/json-patch+json",
            namespace=namespace,
            name=name,
        )
        version: str = result["metadata"]["resourceVersion"]
        return version

    # -- Events --------------------------------------------------------------------------------

    def post_event(self, about: HealthDemo, event_type: str, reason: str, message: str) -> None:
        """A core/v1 Event about a HealthDemo, visible in `kubectl describe healthdemo`."""
        now = _now()
        body = {
            "metadata": {"generateName": f"{about.name}.", "namespace": about.namespace},
            "involvedObject": about.reference,
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
        self._call(
            "POST", "/api/v1/namespaces/{namespace}/events", body=body, namespace=about.namespace
        )
