"""Client certificates and kubeconfigs for the node's components, from the control plane's CA.

Kubernetes maps a client certificate to a user: CN is the name, each O a group. The built-in
authorizers then give each component exactly its role:
- kubelet: `system:node:<name>` in `system:nodes` → the Node authorizer and NodeRestriction
  admission (its own Node object, and only the Pods bound to it, and their Secrets/ConfigMaps);
- kube-scheduler: `system:kube-scheduler` → the bootstrap ClusterRole of that name;
- kube-proxy: `system:kube-proxy` → the bootstrap binding `system:node-proxier`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from healthdemo_sandbox.controlplane import users
from healthdemo_sandbox.controlplane.plane import ControlPlane

SCHEDULER_USER = "system:kube-scheduler"
PROXY_USER = "system:kube-proxy"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def node_user(name: str) -> str:
    return f"system:node:{name}"


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]
    kubeconfig: Path


def issue(
    controlplane: ControlPlane,
    directory: Path,
    key: str,
    user: str,
    groups: Sequence[str] = (),
) -> Identity:
    """Write `<key>.crt/.key` and `<key>.kubeconfig` in `directory` for `user` in `groups`."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, private = controlplane.ca.issue(user, organizations=groups, client=True).write(
        directory, key
    )
    path = directory / f"{key}.kubeconfig"
    path.write_text(
        users.kubeconfig(
            controlplane.server,
            controlplane.ca.cert_pem,
            user,
            client_cert=cert,
            client_key=private,
        )
    )
    path.chmod(0o600)
    return Identity(user, tuple(groups), path)


def serving_pair(
    controlplane: ControlPlane, directory: Path, name: str, address: str
) -> tuple[Path, Path]:
    """The kubelet's serving certificate for its address (instead of a self-signed one)."""
    names = [] if _is_ip(name) else [name]
    pair = controlplane.ca.issue(name, dns_names=names, ip_addresses=[address], server=True)
    return pair.write(directory, "kubelet-serving")
