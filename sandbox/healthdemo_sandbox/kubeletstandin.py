"""Kubelet stand-ins: HTTPS servers that answer `/metrics/probes` the way a kubelet does, for as
many Pods as they are told about — a stand-in, not a kubelet: it runs no probes, checks no
credentials and serves nothing else. For measuring what reading kubelets costs the operator at
a scale no single machine can run for real (bench/operator_bench.py).

Each stand-in is one Node: `register` creates the Node object with the stand-in's address and
port as its kubelet endpoint (what the operator looks up), and `bind` puts a Pod on it (the
binding subresource, as a scheduler would). Its serving certificate comes from the cluster CA,
so the operator verifies it as it verifies a real kubelet.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client

from healthdemo_sandbox.controlplane.certs import CertificateAuthority

PATH = "/metrics/probes"
# The buckets of the kubelet's prober_probe_duration_seconds, so the text is as long as a
# kubelet's (the operator's line filter skips them).
DURATION_BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10")


@dataclass
class StandInPod:
    namespace: str
    name: str
    uid: str
    container: str = "webapp"
    failed: dict[str, int] = field(default_factory=dict)  # by probe type
    successful: int = 0


def probes_text(pods: Iterator[StandInPod] | list[StandInPod]) -> str:
    """The kubelet's /metrics/probes for these Pods: a counter and a duration histogram per
    probe (liveness and readiness), in the kubelet's label order."""
    lines = [
        "# HELP prober_probe_duration_seconds [ALPHA] Duration in seconds for a probe response.",
        "# TYPE prober_probe_duration_seconds histogram",
    ]
    totals = [
        "# HELP prober_probe_total [ALPHA] Cumulative number of a liveness, readiness or "
        "startup probe for a container by result.",
        "# TYPE prober_probe_total counter",
    ]
    for pod in pods:
        for probe in ("Liveness", "Readiness"):
            labels = (
                f'container="{pod.container}",namespace="{pod.namespace}",pod="{pod.name}",'
                f'pod_uid="{pod.uid}",probe_type="{probe}"'
            )
            for bucket in DURATION_BUCKETS:
                lines.append(
                    f'prober_probe_duration_seconds_bucket{{{labels},le="{bucket}"}} '
                    f"{pod.successful}"
                )
            lines.append(f'prober_probe_duration_seconds_bucket{{{labels},le="+Inf"}} '
                         f"{pod.successful}")  # fmt: skip
            lines.append(f"prober_probe_duration_seconds_sum{{{labels}}} {pod.successful * 0.002}")
            lines.append(f"prober_probe_duration_seconds_count{{{labels}}} {pod.successful}")
            for result, count in (
                ("failed", pod.failed.get(probe, 0)),
                ("successful", pod.successful),
                ("unknown", 0),
            ):
                totals.append(f'prober_probe_total{{{labels},result="{result}"}} {count}')
    return "\n".join(lines + totals) + "\n"


class KubeletStandIn:
    """One Node's kubelet stand-in, on 127.0.0.1 and a port of its own."""

    def __init__(self, name: str, ca: CertificateAuthority) -> None:
        self.name = name
        self.pods: dict[str, StandInPod] = {}
        self.reads = 0
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != PATH:
                    self.send_error(404)
                    return
                with standin._lock:
                    standin.reads += 1
                    body = probes_text(list(standin.pods.values())).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        pair = ca.issue(f"kubelet-standin-{name}", ip_addresses=["127.0.0.1"], server=True)
        directory = Path(tempfile.mkdtemp(prefix="kubelet-standin-"))
        cert, key = pair.write(directory, "serving")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def register(self, core: client.CoreV1Api) -> None:
        """The Node object, with this stand-in as its kubelet (address and port)."""
        core.create_node({"metadata": {"name": self.name}})
        endpoint = {"kubeletEndpoint": {"Port": self.port}}
        addresses = [{"type": "InternalIP", "address": "127.0.0.1"}]
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
        self._server.shutdown()
        self._server.server_close()
