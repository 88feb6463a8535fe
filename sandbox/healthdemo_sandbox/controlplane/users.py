"""Who may talk to the sandbox's API server, and the kubeconfig files that say so.

The API server authenticates static bearer tokens (`--token-auth-file`). The operator's identity
is its ServiceAccount's user name, so RBAC bindings to that ServiceAccount (from `deploy/`) apply
to it exactly as in a cluster, and nothing else does.
"""

from __future__ import annotations

import base64
import csv
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

OPERATOR_NAMESPACE = "healthdemo-system"
OPERATOR_SERVICE_ACCOUNT = "healthdemo-operator"


@dataclass(frozen=True)
class User:
    """A token-authenticated identity."""

    key: str  # short name used in file names and by tests: "admin", "operator"
    name: str
    groups: tuple[str, ...] = ()
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))


def admin() -> User:
    return User("admin", "healthdemo-admin", ("system:masters",))


def service_account(namespace: str, name: str, key: str = "operator") -> User:
    """The user a ServiceAccount token authenticates as, with the groups Kubernetes gives it."""
    return User(
        key,
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"),
    )


def token_auth_file(users: Iterable[User]) -> str:
    """The --token-auth-file CSV: token,user,uid,"group1,group2"."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for user in users:
        writer.writerow([user.token, user.name, user.name, ",".join(user.groups)])
    return out.getvalue()


def kubeconfig(
    server: str,
    ca_pem: bytes,
    user_name: str,
    *,
    token: str | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    namespace: str = "default",
) -> str:
    """A one-cluster, one-user kubeconfig (token or client certificate)."""
    credentials: dict[str, str] = {}
    if token is not None:
        credentials["token"] = token
    if client_cert is not None and client_key is not None:
        credentials["client-certificate"] = str(client_cert)
        credentials["client-key"] = str(client_key)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sandbox",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user_name, "user": credentials}],
        "contexts": [
            {
                "name": "sandbox",
                "context": {"cluster": "sandbox", "user": user_name, "namespace": namespace},
            }
        ],
        "current-context": "sandbox",
    }
    return yaml.safe_dump(config, sort_keys=False)
