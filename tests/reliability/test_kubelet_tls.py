"""A kubelet whose serving certificate the cluster CA did not sign (kind's and minikube's are
self-signed): the status says so and names the setting; with it, the counters are read — and the
requests stay authenticated and authorized by the kubelet."""

from __future__ import annotations

from pathlib import Path

import pytest
from healthdemo_operator.settings import KUBELET_INSECURE_TLS
from healthdemo_sandbox import bringup
from healthdemo_sandbox.controlplane import ControlPlane
from healthdemo_sandbox.controlplane.certs import CertificateAuthority
from healthdemo_sandbox.kubeletstandin import ApiAuthorizer, host_address

from ..conftest import standin_node
from ..healthdemo_operator.test_operator import counts_complete
from .test_kubelet_faults import placed, reason_and_message, watch

pytestmark = pytest.mark.controlplane

OPERATOR_USER = "system:serviceaccount:healthdemo-system:healthdemo-operator"


def test_a_self_signed_kubelet_is_read_only_when_told(
    installed: ControlPlane, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, until = watch(installed, namespace)
    with standin_node(installed, serving_ca=CertificateAuthority("kubelet-self-signed")) as node:
        authorizer = node.authorize
        assert isinstance(authorizer, ApiAuthorizer)
        operator = bringup.start_local_operator(installed, tmp_path / "verifying.log")
        try:
            kubelet = placed(installed, namespace, "demo", node)
            kubelet.counted(2)
            refused = until(
                lambda s: counts_complete(s) == ("False", "KubeletUnreadable"), "unreadable"
            )
            message = reason_and_message(refused)[1]
            assert f"{KUBELET_INSECURE_TLS}=true" in message and node.name in message
            assert "certificate the cluster CA did not sign" in message
            assert "kubeletRoute" not in refused  # the least-privilege identity has no route
        finally:
            operator.stop()
        monkeypatch.setenv(KUBELET_INSECURE_TLS, "true")
        operator = bringup.start_local_operator(installed, tmp_path / "insecure.log")
        try:
            read = until(
                lambda s: s.get("probeFailures") == 2 and counts_complete(s) == ("True", "Exact"),
                "read without verifying the certificate",
            )
            assert read["probeFailures"] == 2
        finally:
            operator.stop()
    # Not verifying the kubelet's certificate is not skipping its authorization.
    assert authorizer.allowed == {OPERATOR_USER}
    assert node.refused == []


def test_out_of_reach_an_admins_kopf_run_reads_the_kubelet_through_the_node_proxy(
    installed: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """`kopf run` as a cluster admin, and a kubelet it cannot read itself (here: a certificate
    the cluster CA did not sign, and no setting): the API server may proxy to it, and the admin
    may use that (a SelfSubjectAccessReview says so), so the counts are exact and the status
    says which route. The kubelet sees the API server's own identity, not the admin's."""
    _, until = watch(installed, namespace)
    self_signed = CertificateAuthority("kubelet-self-signed")
    # On one of the host's own addresses: the API server never proxies to a loopback one.
    with standin_node(installed, serving_ca=self_signed, address=host_address()) as node:
        authorizer = node.authorize
        assert isinstance(authorizer, ApiAuthorizer)
        operator = bringup.start_local_operator(
            installed, tmp_path / "admin.log", kubeconfig=installed.kubeconfig("admin")
        )
        try:
            kubelet = placed(installed, namespace, "demo", node)
            kubelet.counted(3)
            read = until(
                lambda s: s.get("probeFailures") == 3 and counts_complete(s) == ("True", "Exact"),
                "read through the node proxy",
            )
            assert read["kubeletRoute"] == "APIServerProxy"
        finally:
            operator.stop()
        assert "through the API server's node proxy" in (tmp_path / "admin.log").read_text()
    assert authorizer.allowed == {"kube-apiserver-kubelet-client"}
