"""kube-proxy in iptables mode: the route from Pods to Services, e.g. 10.0.0.1:443 → API server.

Configured to leave host settings as they are: `conntrack.maxPerCore: 0` and zero TCP timeouts
(no nf_conntrack sysctl writes), `iptables.localhostNodePorts: false` (no route_localnet=1),
NodePorts only on the node's primary address. Its chains (KUBE-*) are removed by clean-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from healthdemo_sandbox.controlplane.processes import ManagedProcess


def configuration(
    kubeconfig: Path, *, name: str, node_ip: str, cluster_cidr: str, healthz_port: int,
    metrics_port: int,
) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": cluster_cidr,
        "hostnameOverride": name,
        "bindAddress": node_ip,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "nodePortAddresses": ["primary"],
        "conntrack": {
            "maxPerCore": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False},
    }


def process(binary: Path, config: dict[str, Any], path: Path, log: Path) -> ManagedProcess:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return ManagedProcess("kube-proxy", [str(binary), f"--config={path}", "--v=2"], log)
