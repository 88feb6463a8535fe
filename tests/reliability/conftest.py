"""The operator behind a fault-injecting proxy, on the shared real control plane."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from healthdemo_sandbox import bringup
from healthdemo_sandbox.controlplane import users
from healthdemo_sandbox.controlplane.plane import ControlPlane
from healthdemo_sandbox.localoperator import LocalOperator

from .faultproxy import FaultProxy


@dataclass
class Proxied:
    proxy: FaultProxy
    operator: LocalOperator


@pytest.fixture
def proxied_operator(installed: ControlPlane, tmp_path: Path) -> Iterator[Proxied]:
    proxy = FaultProxy(installed.server, installed.ca)
    proxy.start()
    identity = installed.users["operator"]
    kubeconfig = tmp_path / "via-proxy.kubeconfig"
    kubeconfig.write_text(
        users.kubeconfig(proxy.url, installed.ca.cert_pem, identity.name, token=identity.token)
    )
    operator = bringup.start_local_operator(
        installed, tmp_path / "operator.log", kubeconfig=kubeconfig
    )
    yield Proxied(proxy, operator)
    operator.stop()
    proxy.stop()
