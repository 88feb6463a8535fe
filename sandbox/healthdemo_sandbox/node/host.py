"""What a node needs from this host, and the host-wide lock that lets only one node run at once.

A node owns host-wide names (the `cni0` bridge, the 10.88.0.0/16 subnet, the KUBE-* iptables
chains, the `/healthdemo` cgroups), so two nodes on one machine would tear each other down. The
lock is an abstract Unix socket: the kernel releases it when its holder dies, even by SIGKILL, and
it leaves no file behind.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from healthdemo_sandbox import binaries as kube_binaries
from healthdemo_sandbox.node import runtime

SETUP_HINT = "run `sandbox/setup-host.sh` as root (Debian 12)"
BINARIES_HINT = "build them with `make kube-binaries`"
# Host tools a node runs: iptables (CNI and kube-proxy), ip (the bridge). The runtime (containerd,
# its shim, ctr, runc) is ours, built like the Kubernetes binaries (`runtime.py`).
TOOLS = (
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip",
)
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")
NODE_BINARIES = ("kubelet", "kube-scheduler", "kube-proxy", "kubectl", *runtime.BINARIES)
LOCK_NAME = b"\0healthdemo-node.lock"


class NodeUnavailable(RuntimeError):
    """This host cannot run a node; the message names what is missing and how to get it."""


class NodeBusy(NodeUnavailable):
    """Another node is running on this host (it holds the host lock)."""


def check(binaries: Mapping[str, Path]) -> None:
    """Raise NodeUnavailable unless we are root and every tool, CNI plugin and binary is there."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append(
            "a node needs root (containerd, cgroups, iptables, mounts); run the tests as root"
        )
    tools = [tool for tool in TOOLS if shutil.which(tool) is None]
    plugins = [p for p in CNI_PLUGINS if not os.access(CNI_BIN_DIR / p, os.X_OK)]
    if tools or plugins:
        missing = tools + [str(CNI_BIN_DIR / p) for p in plugins]
        problems.append(f"missing {', '.join(missing)}; {SETUP_HINT}")
    absent = [name for name in NODE_BINARIES if name not in binaries]
    if absent:
        problems.append(f"missing node binaries {', '.join(absent)}; {BINARIES_HINT}")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append(
            "the kernel has no br_netfilter (/proc/sys/net/bridge is missing): "
            "Service traffic between Pods on the bridge would bypass kube-proxy's rules"
        )
    if problems:
        raise NodeUnavailable("; ".join(problems))


def require(paths: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """The node's binaries (found, unless given) with the runtime's, after checking the host;
    NodeUnavailable says what is missing, so callers can skip with one reason."""
    if paths is None:
        found = {name: kube_binaries.find(name) for name in NODE_BINARIES}
        paths = {name: path for name, path in found.items() if path is not None}
    paths = {**runtime.find(), **paths}
    check(paths)
    return dict(paths)


def host_address() -> str:
    """The host's main IPv4 address: the source address of its default route.

    It is what a node advertises, and what Pods reach the host (and so the API server) on:
    Pod → `kubernetes` Service (10.0.0.1:443) → kube-proxy DNAT → this address. Without a default
    route, the first global address of an interface that is up.
    """
    route = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "203.0.113.1"],  # noqa: S607 - any off-host address
        capture_output=True,
        text=True,
        check=False,
    )
    words = route.stdout.split()
    if route.returncode == 0 and "src" in words:
        return words[words.index("src") + 1]
    addresses = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "up", "scope", "global"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    for line in addresses.stdout.splitlines():
        fields = line.split()
        address = fields[fields.index("inet") + 1].split("/")[0]
        if not ipaddress.ip_address(address).is_loopback:
            return address
    raise NodeUnavailable("no non-loopback IPv4 address: Pods could not reach the API server")


class HostLock:
    """At most one node per host; `acquire` waits up to `timeout` seconds, then raises NodeBusy."""

    def __init__(self, name: bytes = LOCK_NAME) -> None:
        self.name = name
        self._socket: socket.socket | None = None

    def acquire(self, timeout: float = 0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(self.name)
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                if time.monotonic() >= deadline:
                    raise NodeBusy(
                        "another healthdemo node is running on this host (it holds the abstract "
                        f"socket @{self.name[1:].decode()}); stop it first"
                    ) from None
                time.sleep(0.5)
                continue
            self._socket = sock
            return

    def release(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    @property
    def held(self) -> bool:
        return self._socket is not None
