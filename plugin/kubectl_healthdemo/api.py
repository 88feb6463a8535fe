"""Every call the plugin makes to the API server, with the official client; dicts in, dicts out.

Like the operator's `kube.py`, the calls go through the client's request layer
(`ApiClient.param_serialize` + `call_api`: its kubeconfig handling, credentials, TLS and
connection pool), not its generated endpoint methods, which since kubernetes 37 validate every
response with pydantic models — work a short-lived command does not need.

Each call names the permission it needs (`Need`), so an RBAC refusal can say which one is missing.
A Pod proxy call (`proxy_post`) returns the webapp's own answer unless the API server itself
refused or failed: the API server answers with a `Status` object, the webapp never does.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import urllib3
from kubernetes import client

from kubectl_healthdemo import __version__
from kubectl_healthdemo.errors import Forbidden, PluginError, Unreachable

GROUP, VERSION, PLURAL = "demo.example.com", "v1", "healthdemos"
JSON = "application/json"
TIMEOUT = (10.0, 30.0)  # connect, read: seconds
WATCH_SECONDS = 240  # the server ends a watch after this; we resume from the last version


class Need(NamedTuple):
    """A permission, as RBAC names it: `create pods/proxy`."""

    verb: str
    resource: str

    def __str__(self) -> str:
        return f"{self.verb} {self.resource}"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: from the webapp behind the Pod proxy, or from the API server."""

    status: int
    body: Any  # parsed JSON, or the text when it is not JSON

    @property
    def is_api_status(self) -> bool:
        """The API server's own `Status` object (a refusal or an error), not the webapp's."""
        return isinstance(self.body, dict) and self.body.get("kind") == "Status"

    @property
    def message(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("message") or self.body.get("error") or self.body)
        return str(self.body)[:300]


def _parse(data: bytes) -> Any:
    text = data.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Api:
    """The plugin's API calls in one namespace, as the kubeconfig's user."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self._api = api_client
        self._api.user_agent = f"kubectl-healthdemo/{__version__}"
        self.namespace = namespace

    @property
    def server(self) -> str:
        return str(self._api.configuration.host)

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        timeout: float | tuple[float, float] = TIMEOUT,
        body: Any = None,
        content_type: str = JSON,
    ) -> Any:
        """The raw response (urllib3's, not yet read); connection failures become Unreachable."""
        headers = {"Accept": JSON, **({"Content-Type": content_type} if body is not None else {})}
        request = self._api.param_serialize(
            method,
            path,
            query_params=list(query.items()) if query else None,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return self._api.call_api(*request, _request_timeout=timeout)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"cannot reach the API server at {self.server}: {exc}") from None

    def _refusal(self, answer: Answer, need: Need) -> PluginError:
        if answer.status == 403:
            return Forbidden(
                f'RBAC refused "{need}" in namespace "{self.namespace}" '
                f"(the plugin needs it): {answer.message}"
            )
        if answer.status == 401:
            return Forbidden(f"the API server did not accept your credentials: {answer.message}")
        return PluginError(f"{need} failed with HTTP {answer.status}: {answer.message}")

    def _json(self, path: str, need: Need, query: Mapping[str, str] | None = None) -> Any:
        """GET as JSON; None for 404; anything else that is not 2xx raises, naming `need`."""
        response = self._send("GET", path, query)
        response.read()
        answer = Answer(response.status, _parse(response.data))
        if answer.status == 404:
            return None
        if not 200 <= answer.status < 300:
            raise self._refusal(answer, need)
        return answer.body

    # -- reads ---------------------------------------------------------------------------------

    def _healthdemos(self) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{_quote(self.namespace)}/{PLURAL}"

    def healthdemo(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._json(
            f"{self._healthdemos()}/{_quote(name)}", Need("get", PLURAL)
        )
        return found

    def crd_installed(self) -> bool:
        """Whether the API server serves HealthDemos at all (a 404 can mean either)."""
        return self._json(f"/apis/{GROUP}/{VERSION}", Need("get", "/apis")) is not None

    def pod(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._json(
            f"/api/v1/namespaces/{_quote(self.namespace)}/pods/{_quote(name)}", Need("get", "pods")
        )
        return found

    def events(self, kind: str, name: str) -> tuple[list[dict[str, Any]], str]:
        """The Events about one object, and the list's resourceVersion (to watch from)."""
        listed = self._json(
            f"/api/v1/namespaces/{_quote(self.namespace)}/events",
            Need("list", "events"),
            {"fieldSelector": self.about(kind, name)},
        )
        listed = listed or {}
        items: list[dict[str, Any]] = listed.get("items") or []
        return items, str((listed.get("metadata") or {}).get("resourceVersion") or "")

    @staticmethod
    def about(kind: str, name: str) -> str:
        return f"involvedObject.kind={kind},involvedObject.name={name}"

    # -- writes (the lesson command) ----------------------------------------------------------

    def _write(
        self, method: str, path: str, need: Need, body: Any = None, content_type: str = JSON
    ) -> Answer:
        response = self._send(method, path, body=body, content_type=content_type)
        response.read()
        answer = Answer(response.status, _parse(response.data))
        if answer.status in (401, 403):
            raise self._refusal(answer, need)
        return answer

    def create_healthdemo(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create it; PluginError if one of that name exists (a lesson never takes over a
        HealthDemo it did not make)."""
        answer = self._write("POST", self._healthdemos(), Need("create", PLURAL), dict(body))
        if answer.status == 409:
            name = body["metadata"]["name"]
            raise PluginError(
                f'a HealthDemo "{name}" already exists in namespace "{self.namespace}": delete '
                f"it (kubectl delete healthdemo {name}) or run the lesson in another namespace "
                "(-n)"
            )
        if not 200 <= answer.status < 300:
            raise self._refusal(answer, Need("create", PLURAL))
        created: dict[str, Any] = answer.body
        return created

    def patch_healthdemo(self, name: str, patch: Mapping[str, Any]) -> None:
        """A JSON merge patch of it (the resize lesson changes its resources)."""
        answer = self._write(
            "PATCH",
            f"{self._healthdemos()}/{_quote(name)}",
            Need("patch", PLURAL),
            dict(patch),
            content_type="application/merge-patch+json",
        )
        if not 200 <= answer.status < 300:
            raise self._refusal(answer, Need("patch", PLURAL))

    def delete_healthdemo(self, name: str) -> None:
        """Delete it (its Pod goes with it, by garbage collection); gone already is fine."""
        answer = self._write(
            "DELETE", f"{self._healthdemos()}/{_quote(name)}", Need("delete", PLURAL)
        )
        if answer.status != 404 and not 200 <= answer.status < 300:
            raise self._refusal(answer, Need("delete", PLURAL))

    def delete_pod(self, name: str) -> None:
        """Delete one of the HealthDemo's Pods, gracefully (`break --how delete`)."""
        path = f"/api/v1/namespaces/{_quote(self.namespace)}/pods/{_quote(name)}"
        answer = self._write("DELETE", path, Need("delete", "pods"))
        if answer.status != 404 and not 200 <= answer.status < 300:
            raise self._refusal(answer, Need("delete", "pods"))

    # -- the Pod proxy -------------------------------------------------------------------------

    def proxy_post(
        self, pod: str, port: int, path: str, query: Mapping[str, str] | None = None
    ) -> Answer:
        """POST to the webapp through the API server (`create pods/proxy`); the webapp's answer,
        whatever its status. The API server's own refusals raise."""
        url = f"/api/v1/namespaces/{_quote(self.namespace)}/pods/{_quote(pod)}:{port}/proxy{path}"
        response = self._send("POST", url, query)
        response.read()
        answer = Answer(response.status, _parse(response.data))
        if answer.is_api_status and answer.status in (401, 403):
            raise self._refusal(answer, Need("create", "pods/proxy"))
        return answer

    def proxy_get(self, pod: str, port: int, path: str) -> Answer:
        """GET from the webapp through the API server (`get pods/proxy`: RBAC names a proxy
        request's verb after its HTTP method)."""
        url = f"/api/v1/namespaces/{_quote(self.namespace)}/pods/{_quote(pod)}:{port}/proxy{path}"
        response = self._send("GET", url)
        response.read()
        answer = Answer(response.status, _parse(response.data))
        if answer.is_api_status and answer.status in (401, 403):
            raise self._refusal(answer, Need("get", "pods/proxy"))
        return answer

    # -- watches -------------------------------------------------------------------------------

    def watch(
        self, path: str, need: Need, query: Mapping[str, str], resource_version: str
    ) -> Iterator[dict[str, Any]]:
        """Watch events ({"type", "object"}) from `resource_version` until the server ends the
        watch; a 410 Gone arrives as an ERROR event for the caller to list again."""
        params = {
            **query,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        if resource_version:
            params["resourceVersion"] = resource_version
        response = self._send("GET", path, params, timeout=(TIMEOUT[0], WATCH_SECONDS + 30.0))
        raw = response.response
        try:
            if response.status != 200:
                raise self._refusal(Answer(response.status, _parse(raw.read())), need)
            pending = b""
            for chunk in raw.stream(4096, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"the watch on {path} broke: {exc}") from None
        finally:
            raw.release_conn()

    def healthdemo_path(self) -> str:
        return self._healthdemos()

    def events_path(self) -> str:
        return f"/api/v1/namespaces/{_quote(self.namespace)}/events"
