"""The installed `kubectl-healthdemo` run as a subprocess, and identities with chosen RBAC."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from healthdemo_sandbox.controlplane import users
from healthdemo_sandbox.controlplane.plane import ControlPlane

from ..conftest import eventually

# Installed with the project (pyproject [project.scripts]), next to this Python: the very
# executable kubectl finds on PATH.
PLUGIN = Path(sys.executable).parent / "kubectl-healthdemo"


def plugin_env() -> dict[str, str]:
    """No KUBECONFIG from the caller (the tests pass --kubeconfig); wide lines, no colours."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    return {**env, "COLUMNS": "240", "TERM": "dumb"}


def run_plugin(
    *args: str, kubeconfig: Path | None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    command = [str(PLUGIN), *args]
    if kubeconfig is not None:
        command += ["--kubeconfig", str(kubeconfig)]
    return subprocess.run(
        command, capture_output=True, text=True, env=plugin_env(), timeout=timeout, check=False
    )


def mint_user(plane: ControlPlane, directory: Path, name: str, namespace: str) -> Path:
    """A kubeconfig for a new user `name` (a client certificate from the cluster CA, no groups:
    only what RBAC grants it), whose context's namespace is `namespace`."""
    cert, key = plane.ca.issue(name, client=True).write(directory, name)
    path = directory / f"{name}.kubeconfig"
    path.write_text(
        users.kubeconfig(
            plane.server,
            plane.ca.cert_pem,
            name,
            client_cert=cert,
            client_key=key,
            namespace=namespace,
        )
    )
    path.chmod(0o600)
    return path


def grant(
    plane: ControlPlane,
    namespace: str,
    user: str,
    rules: Sequence[dict[str, Any]] = (),
    cluster_role: str | None = None,
) -> None:
    """A RoleBinding for `user` in `namespace`: to a Role with `rules`, or to `cluster_role`.
    Returns once the authorizer lets them get healthdemos (every grant here includes it)."""
    role_ref = {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role,
    }
    documents: list[dict[str, Any]] = []
    if cluster_role is None:
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": user, "namespace": namespace},
            "rules": list(rules),
        }
        documents.append(role)
        role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user}
    documents.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": user, "namespace": namespace},
            "roleRef": role_ref,
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
    )
    plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
    check = ("get", "healthdemos.demo.example.com")
    eventually(
        lambda: plane.kubectl("auth", "can-i", *check, "-n", namespace, "--as", user, check=False)
        .stdout.strip() == "yes",
        timeout=10,
        what=f"RBAC for {user} in effect",
    )  # fmt: skip
