"""kube-apiserver: TLS from our CA, static tokens, Node+RBAC authorization, an audit log."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

from healthdemo_sandbox.controlplane import certs
from healthdemo_sandbox.controlplane.processes import ManagedProcess

SERVICE_CIDR = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"  # first address of SERVICE_CIDR
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
SERVICE_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

# Everything the operator does is recorded at Metadata level (who, verb, resource, code).
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""


def serving_pair(ca: certs.CertificateAuthority, bind: str, advertise: str) -> certs.KeyPair:
    """Valid for every name a client may use: loopback, the advertised address, the
    `kubernetes` Service (from Pods) and the bind address unless it is a wildcard."""
    ips = {"127.0.0.1", advertise, KUBERNETES_SERVICE_IP}
    if bind not in ("0.0.0.0", "::"):
        ips.add(bind)
    return ca.issue(
        "kube-apiserver", dns_names=list(SERVICE_NAMES), ip_addresses=sorted(ips), server=True
    )


def process(
    binary: Path, *, etcd_url: str, bind: str, advertise: str, port: int, pki: Path,
    audit: tuple[Path, Path] | None, log: Path, feature_gates: Mapping[str, bool] | None = None,
) -> ManagedProcess:  # fmt: skip
    """`audit` is (policy file, log file), or None for no audit log; `feature_gates` set
    against the release's defaults (a cluster without a feature, for the tests)."""
    argv = [
        str(binary),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={bind}",
        f"--advertise-address={advertise}",
        f"--secure-port={port}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--token-auth-file={pki / 'tokens.csv'}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        "--allow-privileged=true",
        "--profiling=false",
    ]
    if ipaddress.ip_address(advertise).is_loopback:
        # The `kubernetes` Service's endpoint would be the advertised address, which no Pod can
        # reach on loopback; 1.37 refuses to start with a loopback address and the endpoint
        # reconciler (before, it logged "may not be in the loopback range" and carried on).
        argv.append("--endpoint-reconciler-type=none")
    if feature_gates:
        gates = ",".join(f"{gate}={str(on).lower()}" for gate, on in sorted(feature_gates.items()))
        argv.append(f"--feature-gates={gates}")
    if audit is not None:
        policy, audit_log = audit
        argv += [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={audit_log}",
            "--audit-log-mode=blocking",  # every request is on disk before it is answered
        ]
    return ManagedProcess("kube-apiserver", argv, log)
