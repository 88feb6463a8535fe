"""The Pod network: one CNI conflist (bridge + host-local + portmap) and two kernel switches.

- bridge `cni0` with gateway 10.88.0.1 (made by the plugin on the first Pod), `isGateway` so the
  host routes to Pods (tests reach Pod IPs over real HTTP), `ipMasq` for traffic leaving the host,
  `hairpinMode` so a Pod can reach itself through a Service;
- host-local IPAM on 10.88.0.0/16, its allocations kept under the state dir (`dataDir`), not in
  /var/lib/cni/networks where podman keeps its own;
- portmap for `hostPort`s.
The loopback plugin is not in the list: containerd's CRI sets up each sandbox's `lo` itself with
`/usr/lib/cni/loopback` (its built-in "cni-loopback" network). podman's 10.87.0.0/24 and its
conflist in /etc/cni/net.d are untouched: containerd reads only our conf_dir.

ip_forward lets the host route between the bridge and itself, bridge-nf-call-iptables makes
bridged Pod-to-Pod traffic pass kube-proxy's Service rules. Both are usually on already (podman
turns on forwarding), so they are not switched back off after a node: podman relies on them too.
"""

from __future__ import annotations

import json
from pathlib import Path

NETWORK_NAME = "healthdemo-node"
BRIDGE = "cni0"
POD_SUBNET = "10.88.0.0/16"
GATEWAY = "10.88.0.1"
CONFLIST_NAME = "10-healthdemo-node.conflist"
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}


def conflist(ipam_dir: Path) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def write_conf(conf_dir: Path, ipam_dir: Path) -> Path:
    """Write the conflist where containerd's CRI looks (`conf_dir`); returns its path."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / CONFLIST_NAME
    path.write_text(json.dumps(conflist(ipam_dir), indent=2) + "\n")
    return path


def enable_forwarding() -> None:
    for key, value in SYSCTLS.items():
        path = Path("/proc/sys") / key
        if path.read_text().strip() != value:
            path.write_text(value + "\n")
