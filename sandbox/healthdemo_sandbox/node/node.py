"""Node: containerd (CRI) + kubelet + kube-scheduler + kube-proxy (iptables) on this host,
registered with a ControlPlane; `healthdemo_sandbox.bringup` is the recipe that starts both.

Why the control plane must listen and advertise on the host's main address, not loopback: Pods
reach the API server through the `kubernetes` Service (10.0.0.1:443), which kube-proxy DNATs to
the API server's advertised address, and 127.0.0.1 inside a Pod is the Pod itself. The host's
main address exists before anything starts (the cni0 gateway 10.88.0.1 appears only with the
first Pod, too late for the API server to bind it), and it is the node's InternalIP too, which
the API server dials for logs and exec. It is reachable from outside the machine; every request
still needs a client certificate or token.

The control plane must run the node-lifecycle-controller (`controllers()`): the kubelet registers
its Node with the taint node.kubernetes.io/not-ready:NoSchedule, and only that controller
removes it once the Node is Ready; without it no Pod is ever scheduled ("1 node(s) had
untolerated taint(s)").

The node's name defaults to that address: the API server reaches a kubelet at the node's
Hostname address first (its default --kubelet-preferred-address-types), and an invented name
would not resolve (`kubectl logs` fails with "lookup <name>: no such host").

Everything lives under one state directory (`statedir.default_state_dir()`), which is fixed so
that a crashed run's leftovers are found and removed at the next start.
`stop()` leaves nothing running, mounted or configured (`cleanup.find_leftovers`); it keeps the
logs and, unless `keep_images=False`, containerd's image store, so the next start skips the
import (`statedir.py`).
"""

from __future__ import annotations

import ipaddress
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from healthdemo_sandbox import probes, releases, tls, waiting
from healthdemo_sandbox.controlplane.controllermanager import DEFAULT_CONTROLLERS
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.controlplane.processes import ManagedProcess
from healthdemo_sandbox.lifecycle import Lifecycle
from healthdemo_sandbox.node import (
    cleanup,
    footprint,
    identity,
    iptables,
    kubelet,
    network,
    proxy,
    scheduler,
    statedir,
)
from healthdemo_sandbox.node.containerd import Containerd
from healthdemo_sandbox.node.host import HostLock, require
from healthdemo_sandbox.node.runtime import CONTAINERD_VERSION
from healthdemo_sandbox.ports import free_port
from healthdemo_sandbox.releases import Release
from healthdemo_sandbox.timings import describe, timed

NODE_LIFECYCLE = "node-lifecycle-controller"
ENDPOINTS = "endpoints-controller"


def controllers(release: Release) -> tuple[str, ...]:
    """What a control plane with a node runs: the node-lifecycle-controller (see above) and,
    where the release's service proxy still reads the legacy Endpoints, their controller."""
    extra = (ENDPOINTS,) if release.service_proxy_reads_endpoints else ()
    return (*DEFAULT_CONTROLLERS, NODE_LIFECYCLE, *extra)


NOT_READY_TAINT = "node.kubernetes.io/not-ready"
log = logging.getLogger(__name__)


def _is_loopback(address: str) -> bool:
    return address == "localhost" or ipaddress.ip_address(address).is_loopback


class Node(Lifecycle):
    """One node registered with `controlplane`; `start()`/`stop()` or a `with` block."""

    def __init__(
        self,
        controlplane: ControlPlane,
        *,
        binaries: Mapping[str, Path] | None = None,
        state_dir: Path | None = None,
        name: str | None = None,
        node_ip: str | None = None,
        images: Sequence[Path] = (),
        keep_images: bool = True,
        lock_timeout: float = 0,
        max_restart_backoff: float | None = None,
        release: Release | None = None,
    ) -> None:
        if any(map(_is_loopback, (controlplane.advertise_address, controlplane.bind_address))):
            raise ValueError(
                "Pods cannot reach a control plane on loopback (127.0.0.1 in a Pod is the Pod): "
                "start it with ControlPlane(..., bind_address=node.host_address(), "
                "advertise_address=node.host_address())"
            )
        self.release = release or releases.selected()
        missing = [c for c in controllers(self.release) if c not in controlplane.controllers]
        if missing:
            raise ValueError(
                f"the control plane must run the {', '.join(missing)} (the "
                f"{NODE_LIFECYCLE} lifts the not-ready taint the kubelet registers its Node "
                f"with): ControlPlane(..., controllers=node.controllers(release))"
            )
        self.controlplane = controlplane
        self.binaries = require(binaries)
        self.state_dir = (state_dir or statedir.default_state_dir()).absolute()
        self.node_ip = node_ip or controlplane.advertise_address
        self.name = name or self.node_ip
        self.archives = list(images)
        self.keep_images = keep_images
        self.lock_timeout = lock_timeout
        self.max_restart_backoff = max_restart_backoff
        self.scope = statedir.scope_for(self.state_dir)
        self.logs = self.state_dir / "logs"
        self.containerd = Containerd(
            self.state_dir / "containerd",
            self.state_dir / "cni" / "net.d",
            self.logs,
            self.binaries,
        )
        self.identities: dict[str, identity.Identity] = {}
        self.processes: list[ManagedProcess] = []
        self.timings: dict[str, float] = {}
        self.stop_timings: dict[str, float] = {}
        self.cleaned_at_start: list[str] = []  # what an earlier, crashed run had left
        self._lock = HostLock()
        self.kubelet_port = 0
        self._healthz_port = 0
        self._kubelet: ManagedProcess | None = None
        self._scheduler: ManagedProcess | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Clean up any earlier run, then start everything and wait for the Node to be Ready."""
        began = time.monotonic()
        self._lock.acquire(self.lock_timeout)
        try:
            timed(self.timings, "cleanup", self._fresh_state_dir)
            network.enable_forwarding()
            network.write_conf(self.containerd.cni_conf_dir, self.state_dir / "cni" / "ipam")
            self._issue_identities()
            self.timings["containerd"] = self.containerd.start()
            if self.archives:
                self.import_images(self.archives)
            self._start_kubelet()
            self._start_scheduler_and_proxy()
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        log.info("node %s ready: %s", self.name, self.describe_timings())

    def stop(self) -> cleanup.Leftovers:
        """Delete the Pods (the kubelet stops them properly), stop everything, clean the host.

        Returns what is still left (nothing, normally); steps that fail are logged and skipped,
        so one failure does not leave the rest running.
        """
        if not self._lock.held:
            return cleanup.find_leftovers(self.scope)
        began = time.monotonic()
        if self._scheduler is not None:
            self._scheduler.stop()  # no new Pods here while we delete them (ReplicaSets...)
        if self._kubelet is not None and self._kubelet.running():
            self._step("pods deleted", self._delete_pods)
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self._kubelet = self._scheduler = None
        if self.containerd.running():
            self._step("containerd purged", self.containerd.purge)
        self.containerd.stop()
        self._step("host cleaned", lambda: cleanup.clean(self.scope))
        self._step("node deleted", self._delete_node_object)
        left = cleanup.find_leftovers(self.scope)
        if left:  # keep the state dir: the next start's clean-up needs its records
            log.warning("node %s left: %s", self.name, left)
        else:
            self._step("state removed", self._remove_state)
        self._lock.release()
        self.stop_timings["total"] = time.monotonic() - began
        return left

    # -- access ----------------------------------------------------------------------------------

    def import_images(self, archives: Sequence[Path]) -> dict[str, float]:
        """Import docker-archives into the node's containerd (before or after start)."""
        began = time.monotonic()
        per_archive = self.containerd.import_images(archives)
        self.timings["images"] = self.timings.get("images", 0) + time.monotonic() - began
        return per_archive

    def leftovers(self) -> cleanup.Leftovers:
        return cleanup.find_leftovers(self.scope)

    def describe_timings(self) -> str:
        return describe(self.timings)

    def node_object(self) -> dict[str, Any]:
        node: dict[str, Any] = self.controlplane.get_json(f"/api/v1/nodes/{self.name}")
        return node

    def kubelet_get(self, path: str, user: str = "admin") -> tuple[int, str]:
        """GET `path` from this node's kubelet as `user` (a control-plane user's token; the
        kubelet asks the API server whether the user may): the HTTP status and the body."""
        request = urllib.request.Request(
            f"https://{self.node_ip}:{self.kubelet_port}{path}",
            headers={"Authorization": f"Bearer {self.controlplane.users[user].token}"},
        )
        context = self.controlplane.ssl_context()
        try:
            with urllib.request.urlopen(request, context=context, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def ready(self) -> bool:
        """The Node's Ready condition is True."""
        try:
            conditions = self.node_object().get("status", {}).get("conditions", [])
        except OSError:
            return False
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def schedulable(self) -> bool:
        """Ready, and the node-lifecycle-controller has lifted the not-ready taint."""
        try:
            taints = self.node_object().get("spec", {}).get("taints", [])
        except OSError:
            return False
        return self.ready() and not any(t["key"] == NOT_READY_TAINT for t in taints)

    # -- start -----------------------------------------------------------------------------------

    def _step(self, name: str, action: Callable[[], object]) -> None:
        began = time.monotonic()
        try:
            action()
        except Exception:
            log.exception("node %s: stop step %r failed", self.name, name)
        self.stop_timings[name] = time.monotonic() - began

    def _fresh_state_dir(self) -> None:
        """Remove a previous run's leftovers and files, and record the host as it is now."""
        crashed = footprint.load(self.state_dir) is not None  # a clean stop removes the record
        self.cleaned_at_start = cleanup.clean(self.scope)
        statedir.remove_except(
            self.state_dir, statedir.kept(self.state_dir, images=self.keep_images and not crashed)
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        for log_file in self.logs.iterdir():
            log_file.unlink()
        footprint.record(self.state_dir, iptables.shared_chains_present())

    def _issue_identities(self) -> None:
        pki = self.state_dir / "pki"
        cp = self.controlplane
        self.identities = {
            "kubelet": identity.issue(
                cp, pki, "kubelet", identity.node_user(self.name), ["system:nodes"]
            ),
            "kube-scheduler": identity.issue(cp, pki, "kube-scheduler", identity.SCHEDULER_USER),
            "kube-proxy": identity.issue(cp, pki, "kube-proxy", identity.PROXY_USER),
        }
        (pki / "ca.crt").write_bytes(cp.ca.cert_pem)

    def _process(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process)
        process.start()
        return process

    def restart_kubelet(self) -> float:
        """Stop the kubelet (SIGTERM) and start it again, on the same ports, as an upgrade or a
        crash of the kubelet does: the containers run on, its probe counters start from zero.
        Returns the seconds until it serves again."""
        if self._kubelet is None:
            raise RuntimeError("the node is not running")
        began = time.monotonic()
        self._kubelet.stop()
        self.processes.remove(self._kubelet)
        self._start_kubelet(port=self.kubelet_port, healthz_port=self._healthz_port)
        self._kubelet.wait_until(
            lambda: self.kubelet_get("/metrics/probes")[0] == 200,
            what="the kubelet serving again", timeout=60, interval=0.1,
        )  # fmt: skip
        return time.monotonic() - began

    def restart_containerd(self) -> float:
        """Stop containerd (SIGTERM) and start it again: the containers run on under their
        shims, and the kubelet reconnects. Returns the seconds until its CRI serves again."""
        began = time.monotonic()
        self.containerd.stop()
        self.containerd.start()
        took = time.monotonic() - began
        # The kubelet reports the runtime's version as Unknown while it cannot reach it; it is
        # settled once it reports the real one again.
        if self._kubelet is not None:
            self._kubelet.wait_until(
                self._runtime_reported, what="the kubelet reporting containerd again",
                timeout=90, interval=0.5,
            )  # fmt: skip
        return took

    def _runtime_reported(self) -> bool:
        info = self.node_object().get("status", {}).get("nodeInfo", {})
        return bool(info.get("containerRuntimeVersion", "").endswith(CONTAINERD_VERSION[1:]))

    def _start_kubelet(self, port: int = 0, healthz_port: int = 0) -> None:
        pki = self.state_dir / "pki"
        cert, key = identity.serving_pair(self.controlplane, pki, self.name, self.node_ip)
        files = kubelet.KubeletFiles(
            client_ca=pki / "ca.crt",
            serving_cert=cert,
            serving_key=key,
            kubeconfig=self.identities["kubelet"].kubeconfig,
            root_dir=self.state_dir / "kubelet" / "root",
            pod_logs_dir=self.state_dir / "pod-logs",
            volume_plugin_dir=self.state_dir / "kubelet" / "volume-plugins",
        )
        self.kubelet_port = port or free_port(self.node_ip)
        self._healthz_port = healthz_port or free_port()
        config = kubelet.configuration(
            files,
            self.containerd.endpoint,
            self.node_ip,
            self.kubelet_port,
            self._healthz_port,
            max_restart_backoff=self.max_restart_backoff,
        )
        path = kubelet.write_config(self.state_dir / "kubelet" / "config.yaml", config)
        kubelet.prepare_cgroups()
        self._kubelet = self._process(
            kubelet.process(
                self.binaries["kubelet"],
                path,
                files,
                name=self.name,
                node_ip=self.node_ip,
                log=self.logs / "kubelet.log",
            )
        )
        self.timings["kubelet"] = self._kubelet.wait_until(
            self.ready, what=f"Node {self.name} Ready", timeout=90, interval=0.1
        )
        self.timings["schedulable"] = self._kubelet.wait_until(
            self.schedulable, what="without the not-ready taint", timeout=60, interval=0.1
        )

    def _start_scheduler_and_proxy(self) -> None:
        began = time.monotonic()
        scheduler_port = free_port()
        self._scheduler = self._process(
            scheduler.process(
                self.binaries["kube-scheduler"],
                self.identities["kube-scheduler"].kubeconfig,
                scheduler_port,
                self.logs / "kube-scheduler.log",
            )
        )
        healthz_port = free_port()
        config = proxy.configuration(
            self.identities["kube-proxy"].kubeconfig,
            name=self.name,
            node_ip=self.node_ip,
            cluster_cidr=network.POD_SUBNET,
            healthz_port=healthz_port,
            metrics_port=free_port(),
        )
        kube_proxy = self._process(
            proxy.process(
                self.binaries["kube-proxy"],
                config,
                self.state_dir / "kube-proxy" / "config.yaml",
                self.logs / "kube-proxy.log",
            )
        )
        insecure = tls.unverified()
        self._scheduler.wait_until(
            lambda: probes.status(f"https://127.0.0.1:{scheduler_port}/healthz", insecure) == 200,
            what="healthy",
            timeout=60,
        )
        self.timings["kube-scheduler"] = time.monotonic() - began
        # kube-proxy's /healthz answers 200 once it has written the Service rules.
        kube_proxy.wait_until(
            lambda: probes.status(f"http://127.0.0.1:{healthz_port}/healthz") == 200,
            what="healthy (Service rules synced)",
            timeout=60,
        )
        self.timings["kube-proxy"] = time.monotonic() - began

    # -- stop ------------------------------------------------------------------------------------

    def _pods_here(self) -> list[str]:
        selector = urllib.parse.quote(f"spec.nodeName={self.name}")
        pods = self.controlplane.get_json(f"/api/v1/pods?fieldSelector={selector}")
        return [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods["items"]]

    def _delete_pods(self, timeout: float = 60) -> None:
        selector = f"--field-selector=spec.nodeName={self.name}"
        self.controlplane.kubectl("delete", "pods", "--all-namespaces", selector, "--wait=false")
        if waiting.poll(lambda: not self._pods_here(), timeout=timeout, interval=0.2):
            return
        log.warning("node %s: Pods not gone in %.0f s: %s", self.name, timeout, self._pods_here())
        self.controlplane.kubectl(
            "delete", "pods", "--all-namespaces", selector, "--force", "--grace-period=0"
        )

    def _delete_node_object(self) -> None:
        self.controlplane.kubectl(
            "delete", "node", self.name, "--ignore-not-found", "--wait=false", timeout=10
        )

    def _remove_state(self) -> None:
        statedir.remove_except(
            self.state_dir, statedir.kept(self.state_dir, images=self.keep_images)
        )
