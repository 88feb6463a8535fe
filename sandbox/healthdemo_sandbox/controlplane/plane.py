"""ControlPlane: etcd + kube-apiserver + kube-controller-manager, started in order, with the
certificates, users and kubeconfigs they and their clients need.

Modelled on controller-runtime's envtest (one module per component, certificates, users and
process handling each in their own), plus kube-controller-manager so that garbage collection
and namespace deletion happen as in a cluster.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthdemo_sandbox import probes, tls
from healthdemo_sandbox.controlplane import apiserver, certs, controllermanager, etcd, users
from healthdemo_sandbox.controlplane.processes import ManagedProcess
from healthdemo_sandbox.lifecycle import Lifecycle
from healthdemo_sandbox.ports import free_port, free_ports

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


class KubectlFailed(subprocess.CalledProcessError):
    """kubectl's own words in the message (CalledProcessError's leaves stderr out)."""

    def __str__(self) -> str:
        return f"{super().__str__()}: {str(self.stderr or '').strip()[:2000]}"


class ControlPlane(Lifecycle):
    """Start with `start()` (or `with ControlPlane(...) as cp:`); `stop()` leaves nothing behind."""

    def __init__(
        self,
        binaries: Mapping[str, Path],
        *,
        workdir: Path | None = None,
        bind_address: str = "127.0.0.1",
        advertise_address: str = "127.0.0.1",
        controllers: Sequence[str] = controllermanager.DEFAULT_CONTROLLERS,
        extra_users: Sequence[users.User] = (),
        audit: bool = True,
        feature_gates: Mapping[str, bool] | None = None,
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
        self.feature_gates = dict(feature_gates or {})  # the API server's, against its defaults
        self.ca = certs.CertificateAuthority()
        self.processes: list[ManagedProcess] = []
        self.timings: dict[str, float] = {}
        self.port = 0
        self.etcd_url = ""
        self._kubeconfigs: dict[str, Path] = {}

    # -- lifecycle -------------------------------------------------------------------------------

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
            raise KubectlFailed(result.returncode, result.args, result.stdout, result.stderr)
        return result

    def api_client(self, user: str = "admin") -> ApiClient:
        """A kubernetes-client ApiClient for `user`, built from the file (not from $KUBECONFIG)."""
        from kubernetes import config  # noqa: PLC0415 - the client is heavy; load it on demand

        client: ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig(user)))
        return client

    def get_json(self, path: str, user: str = "admin") -> Any:
        """GET a raw API path (e.g. /version) with `user`'s token."""
        return probes.get_json(self.server + path, self.ssl_context(), token=self.users[user].token)

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the cluster CA: the API server's certificate and the kubelet's."""
        return tls.trusting(self.ca.cert_pem)

    # -- internals -------------------------------------------------------------------------------

    @property
    def _pki(self) -> Path:
        return self.workdir / "pki"

    def _write_files(self) -> None:
        pki = self._pki
        pki.mkdir(parents=True, exist_ok=True)
        (self.workdir / "kubeconfigs").mkdir(exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.ca.pair.write(pki, "ca")
        apiserver.serving_pair(self.ca, self.bind_address, self.advertise_address).write(
            pki, "apiserver"
        )
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
            (self.workdir / "audit-policy.yaml").write_text(apiserver.AUDIT_POLICY)

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def _started(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process)
        process.start()
        return process

    def _start_etcd(self) -> None:
        client, peer = free_ports(2)  # distinct: etcd binds both
        self.etcd_url = f"http://127.0.0.1:{client}"
        process = self._started(
            etcd.process(
                self.binaries["etcd"], self.workdir / "etcd", client, peer, self._log("etcd")
            )
        )
        self.timings["etcd"] = process.wait_until(
            lambda: etcd.healthy(self.etcd_url), what="healthy", timeout=30
        )

    def _start_apiserver(self) -> None:
        self.port = free_port(self.bind_address if self.bind_address != "0.0.0.0" else "")
        audit = None
        if self.audit_log is not None:
            audit = (self.workdir / "audit-policy.yaml", self.audit_log)
        process = self._started(
            apiserver.process(
                self.binaries["kube-apiserver"],
                etcd_url=self.etcd_url,
                bind=self.bind_address,
                advertise=self.advertise_address,
                port=self.port,
                pki=self._pki,
                audit=audit,
                log=self._log("kube-apiserver"),
                feature_gates=self.feature_gates,
            )
        )
        for user in self.users.values():
            self._write_kubeconfig(user.key, user.name, token=user.token)
        self._write_kubeconfig(
            "controller-manager",
            "system:kube-controller-manager",
            client_cert=self._pki / "controller-manager.crt",
            client_key=self._pki / "controller-manager.key",
        )
        readyz, token = self.server + "/readyz", self.users["admin"].token
        self.timings["kube-apiserver"] = process.wait_until(
            lambda: probes.status(readyz, self.ssl_context(), token=token) == 200,
            what="ready",
            timeout=60,
        )

    def _start_controller_manager(self) -> None:
        port = free_port()
        process = self._started(
            controllermanager.process(
                self.binaries["kube-controller-manager"],
                self.kubeconfig("controller-manager"),
                pki=self._pki,
                port=port,
                controllers=self.controllers,
                log=self._log("kube-controller-manager"),
            )
        )
        healthz, insecure = f"https://127.0.0.1:{port}/healthz", tls.unverified()
        self.timings["kube-controller-manager"] = process.wait_until(
            lambda: probes.status(healthz, insecure) == 200, what="healthy", timeout=60
        )

    def _write_kubeconfig(self, key: str, user_name: str, **credentials: Any) -> None:
        path = self.workdir / "kubeconfigs" / f"{key}.kubeconfig"
        path.write_text(users.kubeconfig(self.server, self.ca.cert_pem, user_name, **credentials))
        path.chmod(0o600)
        self._kubeconfigs[key] = path
