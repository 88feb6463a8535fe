"""containerd 2 (ours, `runtime.py`) as the node's CRI runtime: its config, its process, its images.

Everything is under `<state>/containerd`: the sockets, root (images, snapshots, metadata), state
(tasks, sandboxes, and - `netns_mounts_under_state_dir` - the Pods' network namespaces, instead
of /run/netns) and temp. The configuration is version 4, the format containerd 2.4 itself writes
(`containerd config default`), so it is read as written, without a migration at each start. The
settings that matter for root without CAP_SYS_RESOURCE or systemd:
- `restrict_oom_score_adj`: root here lacks CAP_SYS_RESOURCE; without it every RunPodSandbox
  fails with "nsexec: failed to update /proc/self/oom_score_adj: Permission denied";
- `disable_apparmor`, `disable_hugetlb_controller`, `tolerate_missing_hugetlb_controller`;
- the pinned sandbox image is our locally built, imported pause image (nothing is ever pulled;
  containerd 2 also keeps a pinned image from image garbage collection);
- the runc shim and runc are ours, by path (`runtime_path`, `BinaryName`), never whatever
  `containerd-shim-runc-v2` or `runc` is first on PATH; runc with its own state Root and cgroupfs
  (no systemd here);
- CNI: our conf_dir (not /etc/cni/net.d, which has podman's conflist), plugins in /usr/lib/cni;
- NRI off (it would listen on /var/run/nri/nri.sock) and no CDI spec dirs: a node of ours leaves
  nothing outside its state dir but what the footprint records.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from healthdemo_sandbox import waiting
from healthdemo_sandbox.controlplane.processes import ManagedProcess, ProcessFailed
from healthdemo_sandbox.node.host import CNI_BIN_DIR

NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10"
CRI_PLUGINS = (
    "io.containerd.cri.v1.images",
    "io.containerd.cri.v1.runtime",
    "io.containerd.grpc.v1.cri",
)
# Plugins that cannot work here or that we do not use; fewer plugins, faster start, no host files.
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.blockfile",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.erofs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.differ.v1.erofs",
    "io.containerd.mount-handler.v1.erofs",
    "io.containerd.nri.v1.nri",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


def _toml(value: object) -> str:
    """TOML scalars and arrays are JSON-compatible for the strings, bools and lists used here."""
    return json.dumps(value)


def config(base: Path, cni_conf_dir: Path, binaries: Mapping[str, Path]) -> str:
    """config.toml (version 4) with everything under `base`; `binaries` has the shim and runc."""
    images = "plugins.'io.containerd.cri.v1.images'"
    cri = "plugins.'io.containerd.cri.v1.runtime'"
    runc = f"{cri}.containerd.runtimes.runc"
    return f"""\
# Written by healthdemo_sandbox.node: containerd for one local node, all state under {base}.
version = 4
root = {_toml(str(base / "root"))}
state = {_toml(str(base / "state"))}
temp = {_toml(str(base / "tmp"))}
disabled_plugins = {_toml(list(DISABLED_PLUGINS))}

[plugins.'io.containerd.server.v1.grpc']
  address = {_toml(str(base / "containerd.sock"))}

[plugins.'io.containerd.server.v1.ttrpc']
  address = {_toml(str(base / "containerd.sock.ttrpc"))}

[plugins.'io.containerd.internal.v1.opt']
  path = {_toml(str(base / "opt"))}

[{images}]
  snapshotter = "overlayfs"

  [{images}.pinned_images]
    sandbox = {_toml(SANDBOX_IMAGE)}

  [{images}.registry]
    config_path = ""

[{cri}]
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  cdi_spec_dirs = []

  [{cri}.containerd]
    default_runtime_name = "runc"

    [{runc}]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = {_toml(str(binaries["containerd-shim-runc-v2"]))}

      [{runc}.options]
        BinaryName = {_toml(str(binaries["runc"]))}
        Root = {_toml(str(base / "runc"))}
        SystemdCgroup = false

  [{cri}.cni]
    bin_dirs = {_toml([str(CNI_BIN_DIR)])}
    conf_dir = {_toml(str(cni_conf_dir))}
    max_conf_num = 1
"""


class Containerd:
    """The containerd process, and `ctr` against it."""

    def __init__(
        self, base: Path, cni_conf_dir: Path, log_dir: Path, binaries: Mapping[str, Path]
    ) -> None:
        self.base = base
        self.binaries = dict(binaries)
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
        path.write_text(config(self.base, self.cni_conf_dir, self.binaries))
        self.process = ManagedProcess(
            "containerd",
            [str(self.binaries["containerd"]), "--config", str(path)],
            self.log_dir / "containerd.log",
        )
        self.process.start()
        waited = self.process.wait_until(self._serving, what="serving", timeout=timeout)
        plugins = self.ctr("plugins", "ls").stdout.splitlines()
        loaded = {f"{f[0]}.{f[1]}": f[-1] for f in map(str.split, plugins[1:]) if len(f) >= 3}
        broken = {p: loaded.get(p, "absent") for p in CRI_PLUGINS if loaded.get(p) != "ok"}
        if broken:
            raise ProcessFailed(
                f"containerd's CRI plugins did not load ({broken}); see "
                f"{self.process.log_path}:\n{self.process.log_tail()}"
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
            [str(self.binaries["ctr"]), "--address", str(self.address), "--namespace", NAMESPACE,
             *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )  # fmt: skip
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
