"""containerd 1.6 (Debian's) as the node's CRI runtime: its config, its process, its images.

Everything is under `<state>/containerd`: the socket, root (images, snapshots, metadata) and
state (tasks, sandboxes, and - `netns_mounts_under_state_dir` - the Pods' network namespaces,
instead of /run/netns). The CRI settings that matter for root without CAP_SYS_RESOURCE or systemd:
- `restrict_oom_score_adj`: root here lacks CAP_SYS_RESOURCE; without it every RunPodSandbox
  fails with "nsexec: failed to update /proc/self/oom_score_adj: Permission denied";
- `disable_apparmor`, `disable_hugetlb_controller`, `tolerate_missing_hugetlb_controller`;
- `sandbox_image` is our locally built, imported pause image (nothing is ever pulled);
- runc with its own state Root and cgroupfs (no systemd here);
- CNI: our conf_dir (not /etc/cni/net.d, which has podman's conflist), plugins in /usr/lib/cni.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from healthdemo_sandbox import waiting
from healthdemo_sandbox.controlplane.processes import ManagedProcess, ProcessFailed
from healthdemo_sandbox.node.host import CNI_BIN_DIR

NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
RUNC = "/usr/sbin/runc"
# Snapshotters that cannot work here or that we do not use; fewer plugins, faster start.
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


def _toml(value: object) -> str:
    """TOML scalars and arrays are JSON-compatible for the strings, bools and lists used here."""
    return json.dumps(value)


def config(base: Path, cni_conf_dir: Path) -> str:
    """config.toml (version 2) with everything under `base`."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
# Written by healthdemo_sandbox.node: containerd for one local node, all state under {base}.
version = 2
root = {_toml(str(base / "root"))}
state = {_toml(str(base / "state"))}
disabled_plugins = {_toml(list(DISABLED_PLUGINS))}

[grpc]
  address = {_toml(str(base / "containerd.sock"))}

[ttrpc]
  address = {_toml(str(base / "containerd.sock.ttrpc"))}

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml(str(base / "opt"))}

[{cri}]
  sandbox_image = {_toml(SANDBOX_IMAGE)}
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  enable_selinux = false

  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [{cri}.containerd.runtimes.runc.options]
        BinaryName = {_toml(RUNC)}
        Root = {_toml(str(base / "runc"))}
        SystemdCgroup = false

  [{cri}.cni]
    bin_dir = {_toml(str(CNI_BIN_DIR))}
    conf_dir = {_toml(str(cni_conf_dir))}
    max_conf_num = 1

  [{cri}.registry]
    config_path = ""
"""


class Containerd:
    """The containerd process, and `ctr` against it."""

    def __init__(self, base: Path, cni_conf_dir: Path, log_dir: Path) -> None:
        self.base = base
        self.cni_conf_dir = cni_conf_dir
        self.log_dir = log_dir
        self.process: ManagedProcess | None = None

    @property
    def address(self) -> Path:
        return self.base / "containerd.sock"

    @property
    def endpoint(self) -> str:
        """The CRI endpoint, as the kubelet's containerRuntimeEndpoint."""
        return f"unix://{self.address}"

    def start(self, timeout: float = 30) -> float:
        """Write the config, start containerd, wait until its CRI plugin is loaded; seconds."""
        self.base.mkdir(parents=True, exist_ok=True)
        path = self.base / "config.toml"
        path.write_text(config(self.base, self.cni_conf_dir))
        self.process = ManagedProcess(
            "containerd", ["containerd", "--config", str(path)], self.log_dir / "containerd.log"
        )
        self.process.start()
        waited = self.process.wait_until(self._serving, what="serving", timeout=timeout)
        plugins = self.ctr("plugins", "ls").stdout
        cri = [line for line in plugins.splitlines() if " cri " in f" {line} "]
        if not cri or not cri[0].rstrip().endswith("ok"):
            raise ProcessFailed(
                f"containerd's CRI plugin did not load ({cri}); see {self.process.log_path}:\n"
                f"{self.process.log_tail()}"
            )
        return waited

    def _serving(self) -> bool:
        return self.address.exists() and self.ctr("version", check=False).returncode == 0

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`ctr --address <ours> -n k8s.io <args>`."""
        result = subprocess.run(
            ["ctr", "--address", str(self.address), "--namespace", NAMESPACE, *args],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"`ctr {' '.join(args)}` failed: {result.stderr.strip()}")
        return result

    @property
    def _imported_record(self) -> Path:
        return self.base / "root" / "healthdemo-imported"

    def imported(self) -> set[str]:
        """Names of the archives in the image store (kept between runs)."""
        try:
            return set(self._imported_record.read_text().split())
        except OSError:
            return set()

    def import_images(self, archives: Iterable[Path]) -> dict[str, float]:
        """`ctr images import` each docker-archive not imported yet; seconds per archive.

        Archive names carry their images' IDs (archives.py), so a known name is known content.
        """
        timings = {}
        done = self.imported()
        for archive in archives:
            if archive.name in done:
                continue
            began = time.monotonic()
            self.ctr("images", "import", str(archive), timeout=600)
            timings[archive.name] = time.monotonic() - began
            done.add(archive.name)
            self._imported_record.write_text("\n".join(sorted(done)) + "\n")
        return timings

    def images(self) -> list[str]:
        return self.ctr("images", "ls", "--quiet").stdout.split()

    def purge(self) -> list[str]:
        """SIGKILL and delete every task and container left (the kubelet normally removed them)."""
        removed: list[str] = []
        for container in self._list("containers"):
            self.ctr("tasks", "kill", "--signal", "SIGKILL", container, check=False)
        waiting.poll(lambda: not self._running_tasks(), timeout=10, interval=0.1)
        for container in self._list("containers"):
            self.ctr("tasks", "delete", "--force", container, check=False)
            if self.ctr("containers", "delete", container, check=False).returncode == 0:
                removed.append(container)
        return removed

    def _list(self, kind: str) -> Sequence[str]:
        return self.ctr(kind, "ls", "--quiet", check=False).stdout.split()

    def _running_tasks(self) -> list[str]:
        lines = self.ctr("tasks", "ls", check=False).stdout.splitlines()[1:]
        return [line.split()[0] for line in lines if "RUNNING" in line]

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
