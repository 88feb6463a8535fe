"""Proof that the control plane is the real thing: versions, CRUD, GC, RBAC."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from healthdemo_sandbox import releases
from healthdemo_sandbox.controlplane import ControlPlane, ProcessFailed
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.controlplane


def eventually(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s")


def test_kubectl_and_server_report_the_pinned_version(controlplane: ControlPlane) -> None:
    versions = json.loads(controlplane.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == releases.selected().version
    assert versions["serverVersion"]["gitVersion"] == releases.selected().version
    assert controlplane.get_json("/version")["gitVersion"] == releases.selected().version


def test_namespace_lifecycle_with_kubectl(controlplane: ControlPlane) -> None:
    name = f"kubectl-{uuid.uuid4().hex[:8]}"
    controlplane.kubectl("create", "namespace", name)
    got = json.loads(controlplane.kubectl("get", "namespace", name, "-o", "json").stdout)
    assert got["status"]["phase"] == "Active"
    assert got["metadata"]["uid"]  # assigned by the real API server
    controlplane.kubectl("delete", "namespace", name, "--wait=true", timeout=120)
    gone = controlplane.kubectl("get", "namespace", name, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def test_namespace_lifecycle_with_the_python_client(controlplane: ControlPlane) -> None:
    core = client.CoreV1Api(controlplane.api_client())
    name = f"client-{uuid.uuid4().hex[:8]}"
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    assert created.metadata.resource_version
    assert core.read_namespace(name).status.phase == "Active"
    core.delete_namespace(name)

    def deleted() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    # The namespace controller (kube-controller-manager) empties it and removes the finalizer.
    eventually(deleted, timeout=60, what=f"namespace {name} deleted")


def test_owned_object_is_garbage_collected(controlplane: ControlPlane) -> None:
    core = client.CoreV1Api(controlplane.api_client())
    owner = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="owner-"))
    )
    owned_name = f"owned-{uuid.uuid4().hex[:8]}"
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name=owner.metadata.name, uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        "default",
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=owned_name, owner_references=[reference])
        ),
    )
    core.delete_namespaced_config_map(owner.metadata.name, "default")

    def collected() -> bool:
        try:
            core.read_namespaced_config_map(owned_name, "default")
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    eventually(collected, timeout=60, what="garbage collection of the owned ConfigMap")


def test_operator_identity_has_no_privileges_of_its_own(controlplane: ControlPlane) -> None:
    who = json.loads(controlplane.kubectl("auth", "whoami", "-o", "json", user="operator").stdout)
    assert who["status"]["userInfo"]["username"] == (
        "system:serviceaccount:healthdemo-system:healthdemo-operator"
    )
    denied = controlplane.kubectl("get", "secrets", "-n", "default", user="operator", check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    core = client.CoreV1Api(controlplane.api_client("operator"))
    with pytest.raises(ApiException) as raised:
        core.list_namespaced_secret("default")  # never granted, even once deploy/ is applied
    assert raised.value.status == 403


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains `text` (our work dirs are unique paths)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_cli_up_serves_until_ctrl_c_then_leaves_nothing(
    tmp_path: Path, controlplane: ControlPlane
) -> None:
    """Needs the binaries (via the fixture); starts a second, independent control plane."""
    workdir = tmp_path / "cp"
    workdir.mkdir()
    cli = subprocess.Popen(
        [sys.executable, "-m", "healthdemo_sandbox.controlplane", "up", "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert cli.stdout is not None
        first = cli.stdout.readline()
        assert first.startswith("control plane up at https://127.0.0.1:"), first
        children = set(processes_mentioning(str(workdir))) - {cli.pid}
        assert len(children) == 3  # etcd, kube-apiserver, kube-controller-manager
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=60) == 0
        assert processes_mentioning(str(workdir)) == []
        assert (workdir / "logs" / "kube-apiserver.log").exists()  # a given workdir is kept
    finally:
        if cli.poll() is None:  # a failed assertion must not leave a control plane behind
            cli.send_signal(signal.SIGINT)
            cli.wait(timeout=60)


def test_stop_after_a_failed_start_leaves_nothing(
    tmp_path: Path, controlplane: ControlPlane
) -> None:
    broken = dict(controlplane.binaries)
    broken["kube-controller-manager"] = Path("/bin/false")  # exits at once
    plane = ControlPlane(broken, workdir=tmp_path)
    with pytest.raises(ProcessFailed, match="kube-controller-manager exited"):
        plane.start()
    assert processes_mentioning(str(tmp_path)) == []
