"""kube-controller-manager, with only the controllers the tests and the sandbox need."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from healthdemo_sandbox.controlplane.processes import ManagedProcess

# GC and namespace deletion, ServiceAccounts and the kube-root-ca.crt ConfigMap their token
# volumes mount, Deployments for the operator itself.
DEFAULT_CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
    "endpointslice-controller",
    "pod-garbage-collector-controller",
)


def process(
    binary: Path, kubeconfig: Path, *, pki: Path, port: int, controllers: Sequence[str], log: Path
) -> ManagedProcess:
    """Serves /healthz on loopback `port`; one instance, so no leader election."""
    return ManagedProcess(
        "kube-controller-manager",
        [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--controllers={','.join(controllers)}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            "--profiling=false",
        ],
        log,
    )
