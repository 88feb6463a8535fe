"""etcd + kube-apiserver + kube-controller-manager on loopback: a real control plane for tests.

Modelled on controller-runtime's envtest (process handling, certificates and users each in their
own module), plus kube-controller-manager so garbage collection and namespace deletion happen.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthdemo_sandbox.controlplane import certs, users
from healthdemo_sandbox.controlplane.processes import ManagedProcess, ProcessFailed

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["ControlPlane", "ProcessFailed"]

SERVICE_CIDR = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"  # first address of SERVICE_CIDR
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

# Only what the tests and the sandbox need: GC and namespace deletion, ServiceAccounts and the
# kube-root-ca.crt ConfigMap their token volumes mount, Deployments for the operator itself.
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

# Everything the operator does is recorded at Metadata level (who, verb, resource, code).
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ControlPlane:
    """Start with `start()` (or `with ControlPlane(...) as cp:`); `stop()` leaves nothing behind."""

    def __init__(
        self,
        binaries: Mapping[str, Path],
        *,
        workdir: Path | None = None,
        bind_address: str = "127.0.0.1",
        advertise_address: str = "127.0.0.1",
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
        extra_users: Sequence[users.User] = (),
        audit: bool = True,
    ) -> None:
        self.binaries = dict(binaries)
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="healthdemo-cp-"))
        self.bind_address = bind_address
        self.advertise_address = advertise_address
        self.controllers = list(controllers)
        self.users = {
            u.key: u
            for u in (
                users.admin(),
                users.service_account(users.OPERATOR_NAMESPACE, users.OPERATOR_SERVICE_ACCOUNT),
                *extra_users,
            )
        }
        self.audit_log: Path | None = self.workdir / "audit.log" if audit else None
        self.ca = certs.CertificateAuthority()
        self.processes: list[ManagedProcess] = []
        self.timings: dict[str, float] = {}
        self.port = 0
        self._kubeconfigs: dict[str, Path] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        began = time.monotonic()
        try:
            self._write_files()
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began

    def stop(self) -> None:
        """Stop in reverse order; remove the temporary work directory we created."""
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- access ----------------------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://{self.advertise_address}:{self.port}"

    def kubeconfig(self, user: str = "admin") -> Path:
        return self._kubeconfigs[user]

    def kubectl(
        self,
        *args: str,
        user: str = "admin",
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl as `user`; raises with kubectl's stderr when check fails."""
        result = subprocess.run(
            [str(self.binaries["kubectl"]), "--kubeconfig", str(self.kubeconfig(user)), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, result.args, result.stdout, result.stderr
            )
        return result

    def api_client(self, user: str = "admin") -> ApiClient:
        """A kubernetes-client ApiClient for `user`, built from the file (not from $KUBECONFIG)."""
        from kubernetes import config  # noqa: PLC0415 - the client is heavy; load it on demand

        client: ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig(user)))
        return client

    def get_json(self, path: str, user: str = "admin") -> Any:
        """GET a raw API path (e.g. /version) with `user`'s token."""
        request = urllib.request.Request(
            self.server + path,
            headers={"Authorization": f"Bearer {self.users[user].token}"},
        )
        with urllib.request.urlopen(request, context=self.ssl_context(), timeout=5) as response:
            return json.loads(response.read())

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the cluster CA: the API server's certificate and the kubelet's."""
        return ssl.create_default_context(cadata=self.ca.cert_pem.decode())

    # -- internals -------------------------------------------------------------------------------

    def _write_files(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        (self.workdir / "kubeconfigs").mkdir(exist_ok=True)
        self.ca.pair.write(pki, "ca")
        sans_ip = {"127.0.0.1", self.advertise_address, KUBERNETES_SERVICE_IP}
        if self.bind_address not in ("0.0.0.0", "::"):
            sans_ip.add(self.bind_address)
        self.ca.issue(
            "kube-apiserver",
            dns_names=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ip_addresses=sorted(sans_ip),
            server=True,
        ).write(pki, "apiserver")
        self.ca.issue(
            "kube-apiserver-kubelet-client", organizations=["system:masters"], client=True
        ).write(pki, "apiserver-kubelet-client")
        self.ca.issue("system:kube-controller-manager", client=True).write(
            pki, "controller-manager"
        )
        private, public = certs.service_account_keys()
        (pki / "sa.key").write_bytes(private)
        (pki / "sa.key").chmod(0o600)
        (pki / "sa.pub").write_bytes(public)
        (pki / "tokens.csv").write_text(users.token_auth_file(self.users.values()))
        (pki / "tokens.csv").chmod(0o600)
        if self.audit_log is not None:
            (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)

    def _process(self, name: str, argv: Sequence[str]) -> ManagedProcess:
        (self.workdir / "logs").mkdir(exist_ok=True)
        process = ManagedProcess(name, argv, self.workdir / "logs" / f"{name}.log")
        self.processes.append(process)
        process.start()
        return process

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = self._process(
            "etcd",
            [
                str(self.binaries["etcd"]),
                "--name=sandbox",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=sandbox=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",  # a throw-away store: durability buys nothing here
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=1) as response:
                return bool(json.loads(response.read()).get("health") == "true")

        self.timings["etcd"] = etcd.wait_until(healthy, what="healthy", timeout=30)

    def _start_apiserver(self) -> None:
        pki = self.workdir / "pki"
        self.port = free_port(self.bind_address if self.bind_address != "0.0.0.0" else "")
        argv = [
            str(self.binaries["kube-apiserver"]),
            f"--etcd-servers={self.etcd_url}",
            f"--bind-address={self.bind_address}",
            f"--advertise-address={self.advertise_address}",
            f"--secure-port={self.port}",
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
        if self.audit_log is not None:
            argv += [
                f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-mode=blocking",  # every request is on disk before it is answered
            ]
        apiserver = self._process("kube-apiserver", argv)
        for user in self.users.values():
            self._write_kubeconfig(user.key, user.name, token=user.token)
        self._write_kubeconfig(
            "controller-manager",
            "system:kube-controller-manager",
            client_cert=pki / "controller-manager.crt",
            client_key=pki / "controller-manager.key",
        )

        def ready() -> bool:
            request = urllib.request.Request(
                self.server + "/readyz",
                headers={"Authorization": f"Bearer {self.users['admin'].token}"},
            )
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=2) as resp:
                return bool(resp.status == 200)

        self.timings["kube-apiserver"] = apiserver.wait_until(ready, what="ready", timeout=60)

    def _start_controller_manager(self) -> None:
        pki = self.workdir / "pki"
        kubeconfig = self.kubeconfig("controller-manager")
        port = free_port()
        kcm = self._process(
            "kube-controller-manager",
            [
                str(self.binaries["kube-controller-manager"]),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--controllers={','.join(self.controllers)}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # its serving cert is self-signed in memory

        def healthy() -> bool:
            url = f"https://127.0.0.1:{port}/healthz"
            with urllib.request.urlopen(url, context=insecure, timeout=2) as response:
                return bool(response.status == 200)

        self.timings["kube-controller-manager"] = kcm.wait_until(
            healthy, what="healthy", timeout=60
        )

    def _write_kubeconfig(self, key: str, user_name: str, **credentials: Any) -> None:
        path = self.workdir / "kubeconfigs" / f"{key}.kubeconfig"
        path.write_text(users.kubeconfig(self.server, self.ca.cert_pem, user_name, **credentials))
        path.chmod(0o600)
        self._kubeconfigs[key] = path
