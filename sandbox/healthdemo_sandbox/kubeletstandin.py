"""Kubelet stand-ins: HTTPS servers that answer `/metrics/probes` the way a kubelet does, for as
many Pods as they are told about — a stand-in, not a kubelet: it runs no probes and serves
nothing else. For measuring what reading kubelets costs the operator at a scale no single machine
can run for real (bench/operator_bench.py), and for putting the operator's exact path (the
kubelet's counters) through faults a real kubelet will not make on demand (tests).

Each stand-in is one Node: `register` creates the Node object with the stand-in's address and
port as its kubelet endpoint (what the operator looks up), and `bind` puts a Pod on it (the
binding subresource, as a scheduler would). Its serving certificate comes from the cluster CA,
so the operator verifies it as it verifies a real kubelet (or from another CA: a kubelet whose
certificate the cluster CA did not sign, as on kind and minikube). With an `ApiAuthorizer` it asks
the API server who is calling and whether they may, as a kubelet with webhook authentication and
authorization does; `fault` makes it answer as a failing kubelet would; the text's format is
checked against a real kubelet's on every supported release (tests/node).
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from kubernetes import client

from healthdemo_sandbox.controlplane.certs import CertificateAuthority

PATH = "/metrics/probes"
CONFIGZ = "/configz"
# The buckets of the kubelet's prober_probe_duration_seconds, so the text is as long as a
# kubelet's (the operator's line filter skips them).
DURATION_BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10")
HANG_SECONDS = 120  # a hung answer comes after this, or when released
# How a failing kubelet answers: an HTTP status (500, 503), a connection reset, no answer.
Fault = int | Literal["reset", "hang"] | None
# (Authorization header, path) → None (allowed) or the kubelet's refusal: (status, body).
# (the Authorization header, the path, the verified client certificate's user and groups)
Authorize = Callable[[str | None, str, "tuple[str, list[str]] | None"], tuple[int, str] | None]


def subresource(path: str) -> str:
    """The `nodes/<subresource>` a kubelet asks the authorizer about for a path: metrics, stats,
    log and spec have their own, and configz (fine-grained kubelet authorization, on by default
    on every supported release); everything else (pods, exec, ...) is `proxy`."""
    top = path.split("?", maxsplit=1)[0].strip("/").split("/")[0]
    own = {"metrics": "metrics", "stats": "stats", "logs": "log", "spec": "spec"}
    return {**own, "configz": "configz"}.get(top, "proxy")


class ApiAuthorizer:
    """A kubelet's webhook authentication and authorization: TokenReview for who is calling,
    SubjectAccessReview for `get nodes/<subresource>` on this Node."""

    def __init__(self, admin: client.ApiClient, node: str) -> None:
        self._authn = client.AuthenticationV1Api(admin)
        self._authz = client.AuthorizationV1Api(admin)
        self.node = node
        self.allowed: set[str] = set()  # who was let in

    def __call__(
        self, header: str | None, path: str, certificate: tuple[str, list[str]] | None = None
    ) -> tuple[int, str] | None:
        """A client certificate the cluster CA signed (the API server's, on its node proxy)
        names the user and groups; otherwise a bearer token, reviewed by the API server."""
        if certificate is not None:
            username, groups, uid = certificate[0], certificate[1], ""
        else:
            if not header or not header.startswith("Bearer "):
                return 401, "Unauthorized"
            review = self._authn.create_token_review(
                {"spec": {"token": header.removeprefix("Bearer ")}}
            ).status
            if not review.authenticated:
                return 401, "Unauthorized"
            username, groups, uid = review.user.username, review.user.groups, review.user.uid
        sub = subresource(path)
        attributes = {"verb": "get", "resource": "nodes", "subresource": sub, "name": self.node}
        access = self._authz.create_subject_access_review(
            {
                "spec": {
                    "user": username,
                    "groups": groups,
                    "uid": uid,
                    "resourceAttributes": attributes,
                }
            }
        ).status
        if access.allowed:
            self.allowed.add(username)
            return None
        return 403, (
            f"Forbidden (user={username}, verb=get, resource=nodes, subresource(s)=[{sub}])\n"
        )


@dataclass
class StandInPod:
    namespace: str
    name: str
    uid: str
    container: str = "webapp"
    failed: dict[str, int] = field(default_factory=dict)  # by probe type
    successful: int = 0


def probes_text(pods: Iterator[StandInPod] | list[StandInPod], started: float = 0.0) -> str:
    """The kubelet's /metrics/probes for these Pods: its process start time, a counter and a
    duration histogram per probe (liveness and readiness), with the kubelet's help texts and
    label names, in its order (the histogram has no `pod_uid`); a result's series exists once
    it has been counted."""
    lines = [
        "# HELP process_start_time_seconds [ALPHA] Start time of the process since unix epoch in "
        "seconds.",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {started!r}",
        "# HELP prober_probe_duration_seconds [ALPHA] Duration in seconds for a probe response.",
        "# TYPE prober_probe_duration_seconds histogram",
    ]
    totals = [
        "# HELP prober_probe_total [BETA] Cumulative number of a liveness, readiness or "
        "startup probe for a container by result.",
        "# TYPE prober_probe_total counter",
    ]
    for pod in pods:
        for probe in ("Liveness", "Readiness"):
            labels = (
                f'container="{pod.container}",namespace="{pod.namespace}",pod="{pod.name}",'
                f'probe_type="{probe}"'
            )
            for bucket in (*DURATION_BUCKETS, "+Inf"):
                lines.append(
                    f'prober_probe_duration_seconds_bucket{{{labels},le="{bucket}"}} '
                    f"{pod.successful}"
                )
            lines.append(f"prober_probe_duration_seconds_sum{{{labels}}} {pod.successful * 0.002}")
            lines.append(f"prober_probe_duration_seconds_count{{{labels}}} {pod.successful}")
            counted = (
                f'container="{pod.container}",namespace="{pod.namespace}",pod="{pod.name}",'
                f'pod_uid="{pod.uid}",probe_type="{probe}"'
            )
            for result, count in (
                ("failed", pod.failed.get(probe)),
                ("successful", pod.successful),
            ):
                if count is not None:
                    totals.append(f'prober_probe_total{{{counted},result="{result}"}} {count}')
    return "\n".join(lines + totals) + "\n"


def _client(connection: Any) -> tuple[str, list[str]] | None:
    """The verified client certificate's common name and organizations (user and groups)."""
    peer = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
    if not peer:
        return None
    subject: Any = peer.get("subject", ())
    names = [(str(key), str(value)) for rdn in subject for key, value in rdn]
    user = next((value for key, value in names if key == "commonName"), None)
    groups = [value for key, value in names if key == "organizationName"]
    return (user, groups) if user else None


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up on a hung or slow answer is no error of the stand-in's."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


def host_address() -> str:
    """This host's own address on its default route (no packet is sent): not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("203.0.113.1", 9))  # TEST-NET-3: any address the default route takes
        address: str = probe.getsockname()[0]
    return address


class KubeletStandIn:
    """One Node's kubelet stand-in, on 127.0.0.1 (or `address`) and a port of its own."""

    def __init__(
        self,
        name: str,
        ca: CertificateAuthority,
        *,
        authorize: Authorize | None = None,
        serving_ca: CertificateAuthority | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        """`address`: where it listens and what its Node says. The API server's node proxy
        refuses loopback addresses: a test of that route gives one of the host's own."""
        self.name = name
        self.address = address
        self.authorize = authorize
        self.pods: dict[str, StandInPod] = {}
        self.reads = 0
        self.fault: Fault = None
        self.started = time.time()  # its process_start_time_seconds
        self.refused: list[tuple[int, str]] = []  # what authorization refused: (status, path)
        # What /configz shows (the part the operator reads): a kubelet's defaults.
        self.kubelet_config: dict[str, Any] = {"featureGates": {}}
        self._released = threading.Event()
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the operator's pool expects

            def do_GET(self) -> None:
                with standin._lock:
                    standin.reads += 1
                    fault = standin.fault
                if fault == "hang":
                    standin._released.wait(HANG_SECONDS)
                elif fault == "reset":
                    # RST instead of an answer: what a kubelet killed mid-request leaves.
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.close_connection = True
                    return
                elif fault is not None:
                    self._answer(fault, "injected by the kubelet stand-in\n")
                    return
                header = self.headers.get("Authorization")
                certificate = _client(self.connection)
                refusal = authorize(header, self.path, certificate) if authorize else None
                if refusal is not None:
                    with standin._lock:
                        standin.refused.append((refusal[0], self.path))
                    self._answer(*refusal)
                    return
                if self.path == CONFIGZ:
                    with standin._lock:
                        body = json.dumps({"kubeletconfig": standin.kubelet_config})
                    self._answer(200, body, "application/json")
                    return
                if self.path != PATH:
                    self._answer(404, "404 page not found\n")
                    return
                with standin._lock:
                    body = probes_text(list(standin.pods.values()), standin.started)
                self._answer(200, body, "text/plain; version=0.0.4; charset=utf-8")

            def _answer(self, status: int, text: str, kind: str = "text/plain") -> None:
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _QuietServer((address, 0), Handler)
        pair = (serving_ca or ca).issue(
            f"kubelet-standin-{name}", ip_addresses=[address], server=True
        )
        directory = Path(tempfile.mkdtemp(prefix="kubelet-standin-"))
        cert, key = pair.write(directory, "serving")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        # Like a kubelet's --client-ca-file: a client certificate the cluster CA signed is who
        # the caller is (the API server's, when it proxies a request to this node).
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=ca.cert_pem.decode())
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail_with(self, fault: Fault) -> None:
        """Answer every request this way from now on (None: answer normally again)."""
        with self._lock:
            self.fault = fault
            if fault == "hang":
                self._released.clear()
            else:
                self._released.set()  # a hung request answers now

    def restart(self) -> None:
        """What a kubelet restart does to its counters: every one starts again from zero, in a
        process that started later."""
        with self._lock:
            self.started = max(time.time(), self.started + 2)
            for pod in self.pods.values():
                pod.failed.clear()
                pod.successful = 0

    def count(self, uid: str, probe: str, failed: int) -> None:
        """The kubelet's failed count of one probe ("Liveness", ...) of one Pod, from now on."""
        with self._lock:
            self.pods[uid].failed[probe] = failed

    def register(self, core: client.CoreV1Api) -> None:
        """The Node object, with this stand-in as its kubelet (address and port)."""
        core.create_node({"metadata": {"name": self.name}})
        endpoint = {"kubeletEndpoint": {"Port": self.port}}
        addresses = [{"type": "InternalIP", "address": self.address}]
        core.patch_node_status(
            self.name, {"status": {"addresses": addresses, "daemonEndpoints": endpoint}}
        )

    def bind(self, core: client.CoreV1Api, pod: StandInPod) -> None:
        """Schedule the Pod here, and answer for it from now on."""
        binding = {"metadata": {"name": pod.name}, "target": {"kind": "Node", "name": self.name}}
        core.create_namespaced_pod_binding(pod.name, pod.namespace, binding, _preload_content=False)
        with self._lock:
            self.pods[pod.uid] = pod

    def unregister(self, core: client.CoreV1Api) -> None:
        core.delete_node(self.name)

    def stop(self) -> None:
        self.fail_with(None)
        self._server.shutdown()
        self._server.server_close()
