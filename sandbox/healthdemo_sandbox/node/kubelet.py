"""The kubelet: its KubeletConfiguration, its cgroup root, its process.

Settings chosen for a root VM without systemd, with hybrid cgroups v1/v2 and no registry:
- no `cgroupDriver`: containerd 2 tells the kubelet its driver over the CRI (cgroupfs: runc runs
  with `SystemdCgroup = false`, there is no systemd here); the kubelet's own setting is only a
  fallback for runtimes that cannot (containerd 1.x), which Kubernetes 1.38 removes;
- `failCgroupV1: false` (hybrid v1/v2 here; 1.35+ refuse cgroup v1 otherwise), `failSwapOn: false`;
- `cgroupRoot: /healthdemo`: all Pod cgroups below one name of ours, so clean-up removes exactly
  those (it must exist before the kubelet starts);
- `protectKernelDefaults: false`: the kubelet then sets kernel.panic=10, kernel.panic_on_oops=1,
  vm.overcommit_memory=1 (and vm.panic_on_oom=0, root key quotas) at start; the footprint records
  the previous values and the node puts them back when it stops;
- `podLogsDir`, `volumePluginDir` and `--root-dir` under the state dir (the kubelet bind-mounts
  its root dir onto itself; clean-up unmounts it; by default it creates the FlexVolume directory
  /usr/libexec/kubernetes/kubelet-plugins/volume/exec on the host);
- image GC off in practice (`imageGCHighThresholdPercent: 100`): our images are imported, and
  nothing can be pulled again here (containerd 2 pins the pause image itself); eviction
  thresholds low (1 % disk, 100 MiB memory) so a fairly full disk does not evict the tests' Pods;
- authentication: x509 client certificates from the cluster CA (the API server's kubelet client
  is in system:masters) and webhook (TokenReview); authorization: webhook
  (SubjectAccessReview). No anonymous access, no read-only port;
- serving certificate from the cluster CA, for the node's address;
- `oomScoreAdj: 0`: the default -999 needs CAP_SYS_RESOURCE, which root lacks here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from healthdemo_sandbox.controlplane.processes import ManagedProcess
from healthdemo_sandbox.node.cleanup import cgroup_roots

CGROUP_ROOT = "healthdemo"
EVICTION_HARD = {
    "memory.available": "100Mi",
    "nodefs.available": "1%",
    "nodefs.inodesFree": "1%",
    "imagefs.available": "1%",
    "imagefs.inodesFree": "1%",
}


@dataclass(frozen=True)
class KubeletFiles:
    """Paths the kubelet's configuration refers to."""

    client_ca: Path
    serving_cert: Path
    serving_key: Path
    kubeconfig: Path
    root_dir: Path
    pod_logs_dir: Path
    volume_plugin_dir: Path


def configuration(
    files: KubeletFiles,
    runtime_endpoint: str,
    address: str,
    port: int,
    healthz_port: int,
    *,
    max_restart_backoff: float | None = None,
) -> dict[str, Any]:
    """The kubelet's settings; `max_restart_backoff` caps CrashLoopBackOff (default 300 s; 1 s to
    300 s; its gate KubeletCrashLoopBackOffMax is on by default from 1.35), for tests that need
    many restarts of one container in minutes."""
    extra: dict[str, Any] = {}
    if max_restart_backoff is not None:
        extra["crashLoopBackOff"] = {"maxContainerRestartPeriod": f"{max_restart_backoff:g}s"}
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": address,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(files.client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(files.serving_cert),
        "tlsPrivateKeyFile": str(files.serving_key),
        "containerRuntimeEndpoint": runtime_endpoint,
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failSwapOn": False,
        "failCgroupV1": False,
        "protectKernelDefaults": False,
        "oomScoreAdj": 0,
        "podLogsDir": str(files.pod_logs_dir),
        "volumePluginDir": str(files.volume_plugin_dir),
        "resolvConf": "/etc/resolv.conf",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": EVICTION_HARD,
        "serializeImagePulls": False,
        "registerNode": True,
        **extra,
    }


def prepare_cgroups(name: str = CGROUP_ROOT) -> None:
    """Create `/<name>` in every cgroup hierarchy: the kubelet refuses an absent cgroupRoot."""
    for root in cgroup_roots():
        (root / name).mkdir(exist_ok=True)


def process(
    binary: Path, config: Path, files: KubeletFiles, *, name: str, node_ip: str, log: Path
) -> ManagedProcess:
    return ManagedProcess(
        "kubelet",
        [
            str(binary),
            f"--config={config}",
            f"--kubeconfig={files.kubeconfig}",
            f"--root-dir={files.root_dir}",
            f"--hostname-override={name}",
            f"--node-ip={node_ip}",
            "--v=2",
        ],
        log,
    )


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
