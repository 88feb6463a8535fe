"""Our container images, built without a Docker engine and without a registry.

podman (with its own configuration, storage in the cache) builds our Dockerfiles unchanged:
- the base `python:3.11-slim` is Debian bookworm from `debootstrap` (the rootfs tarball is cached),
  imported and tagged `localhost/python:3.11-slim` and `docker.io/library/python:3.11-slim`, so
  `FROM python:3.11-slim` resolves to it with `--pull=never`;
- the pause image (the Pod sandbox) is our static `sandbox/pause/pause.c`, tagged
  `registry.k8s.io/pause:3.10`;
- `Dockerfile.webapp` → `flask-webapp:latest` (and `Dockerfile.operator` →
  `healthdemo-operator:latest` once it exists).

`save_archive` writes a docker-archive for `ctr -n k8s.io images import`.
Everything lives under `${HEALTHDEMO_CACHE:-~/.cache/healthdemo}/podman`: a second run takes
seconds. `python -m healthdemo_sandbox.images build` builds everything and prints the timings.
Needs root and the packages of `sandbox/setup-host.sh`.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthdemo_sandbox.paths import ROOT, cache_root

log = logging.getLogger(__name__)

PAUSE_SOURCE = ROOT / "sandbox" / "pause" / "pause.c"
SETUP_HINT = "run `sandbox/setup-host.sh` as root (Debian 12) first"

BASE_TAGS = ("localhost/python:3.11-slim", "docker.io/library/python:3.11-slim")
PAUSE_TAGS = ("registry.k8s.io/pause:3.10", "localhost/pause:3.10")
# Our Dockerfiles → their names. The docker.io/library/ name is what a Pod's `image: flask-webapp`
# means to containerd, so an archive saved with it needs no registry.
APP_IMAGES: dict[str, tuple[str, ...]] = {
    "Dockerfile.webapp": ("localhost/flask-webapp:latest", "docker.io/library/flask-webapp:latest"),
    "Dockerfile.operator": (
        "localhost/healthdemo-operator:latest",
        "docker.io/library/healthdemo-operator:latest",
    ),
}

SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-pip", "python3-venv", "python-is-python3", "ca-certificates")
BASE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
PAUSE_CFLAGS = ("-static", "-O2", "-s", "-Wall", "-Wextra")
PAUSE_CHANGES = ('ENTRYPOINT ["/pause"]', "USER 65535:65535")
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# podman's bridge (cni-podman0) for builds and test containers; not its default 10.88.0.0/16,
# which a node's own CNI bridge commonly uses.
PODMAN_SUBNET = "10.87.0.0/24"
# Which recipe (inputs hash) made an imported image: a changed recipe re-imports it.
BASE_LABEL = "io.healthdemo.base-recipe"
PAUSE_LABEL = "io.healthdemo.pause-recipe"


class HostNotReady(RuntimeError):
    """Not root, or a tool is missing; the message says to run sandbox/setup-host.sh."""


class CommandFailed(RuntimeError):
    """A build command exited non-zero; the message carries the command and its output's tail."""


@dataclass(frozen=True)
class Step:
    """One step of `build_all`: how long it took, and whether the cache made it a no-op."""

    name: str
    seconds: float
    cached: bool


def describe_steps(steps: Sequence[Step]) -> str:
    """`base cached, webapp 4.2s, ...`: what a build cost, for the tests' and sandbox's logs."""
    return ", ".join(f"{s.name} {'cached' if s.cached else f'{s.seconds:.1f}s'}" for s in steps)


# --- host and paths -------------------------------------------------------------------------


def check_host(tools: Sequence[str] = ("podman", "runc")) -> None:
    """Raise HostNotReady unless we are root and every tool is on PATH."""
    if os.geteuid() != 0:
        raise HostNotReady(f"building images needs root (podman, debootstrap); {SETUP_HINT}")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise HostNotReady(f"missing {', '.join(missing)}; {SETUP_HINT}")


def podman_dir() -> Path:
    """podman's config, storage and runtime state, and our cached image inputs."""
    return cache_root() / "podman"


# --- podman configuration -------------------------------------------------------------------


def default_ulimits() -> list[str]:
    """nofile/nproc at our own hard limits (`ulimit -Hn`, `ulimit -Hu` capped by pid_max).

    podman's defaults are higher, and root here lacks CAP_SYS_RESOURCE to raise them:
    "error setting rlimit".
    """
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile == resource.RLIM_INFINITY:
        nofile = int(Path("/proc/sys/fs/nr_open").read_text())
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
    return [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def containers_conf(state: Path) -> str:
    """containers.conf for this host: cgroupfs, file events, runc, CNI from Debian's plugins."""
    return f"""\
# Written by healthdemo_sandbox.images: podman on a host without systemd, registry or crun.
[containers]
default_ulimits = {_toml_list(default_ulimits())}
log_driver = "k8s-file"

[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = {json.dumps(str(state / "cni"))}
default_subnet = {json.dumps(PODMAN_SUBNET)}

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = {json.dumps(str(state / "tmp"))}
"""


def storage_conf(state: Path) -> str:
    """storage.conf: overlay, graphroot and runroot under `state`, so images persist."""
    return f"""\
# Written by healthdemo_sandbox.images.
[storage]
driver = "overlay"
graphroot = {json.dumps(str(state / "storage"))}
runroot = {json.dumps(str(state / "run"))}
"""


def registries_conf() -> str:
    """registries.conf with no search registries: short names resolve only to local images."""
    return """\
# Written by healthdemo_sandbox.images: no registry is reachable, nothing is pulled.
unqualified-search-registries = []
short-name-mode = "permissive"
"""


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def reset_runtime_state_after_reboot(state: Path) -> None:
    """Drop podman's runtime dirs (runroot, tmp_dir) if they are from an earlier boot.

    They normally live on a tmpfs that a reboot empties; ours persist in the cache with the images.
    """
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    marker = state / "run" / ".boot_id"
    if marker.exists() and marker.read_text() == boot_id:
        return
    for runtime_dir in (state / "run", state / "tmp"):
        shutil.rmtree(runtime_dir, ignore_errors=True)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(boot_id)


def podman_env() -> dict[str, str]:
    """Write our podman configuration (if changed) and return the variables that select it."""
    state = podman_dir()
    etc = state / "etc"
    _write_if_changed(etc / "containers.conf", containers_conf(state))
    _write_if_changed(etc / "storage.conf", storage_conf(state))
    _write_if_changed(etc / "registries.conf", registries_conf())
    reset_runtime_state_after_reboot(state)
    return {
        "CONTAINERS_CONF": str(etc / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(etc / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(etc / "registries.conf"),
    }


# --- running commands -----------------------------------------------------------------------


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with its output captured; raise CommandFailed (with the tail) if it fails."""
    log.debug("$ %s", " ".join(argv))
    result = subprocess.run(
        list(argv),
        env={**os.environ, **env} if env else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        tail = "\n".join(output[-40:])
        raise CommandFailed(f"`{' '.join(argv)}` exited {result.returncode}:\n{tail}")
    return result


def podman(
    *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """`podman <args>` with our configuration and storage."""
    return run(["podman", *args], env=podman_env(), check=check, timeout=timeout)


def image_labels(ref: str) -> dict[str, str] | None:
    """The labels of a local image, or None if there is no such image."""
    result = podman("image", "inspect", ref, check=False)
    if result.returncode != 0:
        return None
    inspected: list[dict[str, Any]] = json.loads(result.stdout)
    labels: dict[str, str] = inspected[0].get("Labels") or {}
    return labels


def image_has_recipe(ref: str, label: str, recipe: str) -> bool:
    """True if the image exists and its `label` says it was made from this recipe."""
    labels = image_labels(ref)
    return labels is not None and labels.get(label) == recipe


def prune_dangling() -> None:
    """Remove untagged images nothing is built on (an old base, an old webapp and its layers)."""
    podman("image", "prune", "--force")


def add_tags(image: str, *names: str) -> None:
    """Give a local image more names."""
    if names:
        podman("tag", image, *names)


# --- the base image: python:3.11-slim from debootstrap ----------------------------------------


def debian_mirror() -> str:
    """The host's Debian mirror (deb822 debian.sources, else sources.list), or deb.debian.org."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for stanza in sources.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if ":" in line and not line.startswith("#")
            )
            suites = fields.get("Suites", "").split()
            if "deb" in fields.get("Types", "").split() and SUITE in suites:
                return fields["URIs"].split()[0]
    sources_list = Path("/etc/apt/sources.list")
    if sources_list.exists():
        for line in sources_list.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1]
    return DEFAULT_MIRROR


def host_extra_cas() -> list[Path]:
    """The host's locally added CA certificates (a TLS-intercepting proxy's, for instance)."""
    return sorted(HOST_EXTRA_CAS.glob("*.crt")) if HOST_EXTRA_CAS.is_dir() else []


def base_recipe() -> str:
    """A short hash of everything that goes into the base rootfs; it names the cached tarball."""
    digest = hashlib.sha256()
    # Any change here means a new debootstrap: a new layer, so no stale build cache above it.
    digest.update(repr((SUITE, "minbase", BASE_PACKAGES, BASE_CHANGES, BASE_LABEL, 2)).encode())
    for ca in host_extra_cas():
        digest.update(ca.name.encode() + ca.read_bytes())
    return digest.hexdigest()[:12]


def base_tarball(recipe: str) -> Path:
    """Where the base rootfs tarball for this recipe is cached."""
    return podman_dir() / "inputs" / f"python-3.11-slim-{SUITE}-{recipe}.tar"


def unmount_under(path: Path) -> None:
    """Unmount anything below `path` (an interrupted debootstrap leaves /proc, /sys mounted)."""
    prefix = str(path.resolve()) + "/"
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(prefix)
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        run(["umount", "--lazy", mount], check=False)


def remove_tree(path: Path) -> None:
    """rm -rf, after making sure nothing is mounted inside."""
    if path.exists():
        unmount_under(path)
        shutil.rmtree(path)


def debootstrap(rootfs: Path, mirror: str) -> None:
    """Debian bookworm, minbase variant, with Python, pip and venv (about a minute)."""
    if shutil.which("debootstrap") is None:
        raise HostNotReady(f"missing debootstrap (for the base image); {SETUP_HINT}")
    include = ",".join(BASE_PACKAGES)
    log.info("debootstrap %s from %s into %s (about a minute)", SUITE, mirror, rootfs)
    run(["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(rootfs), mirror])


def customize_rootfs(rootfs: Path) -> None:
    """Make it behave like the official python image: pip installs system-wide, host CAs trusted."""
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    cas = host_extra_cas()
    for ca in cas:
        shutil.copy2(ca, rootfs / "usr/local/share/ca-certificates" / ca.name)
    if cas:
        run(["chroot", str(rootfs), "update-ca-certificates"])
    # Like the official slim images: no downloaded packages, no package lists.
    for leftover in [
        *rootfs.glob("var/cache/apt/archives/*.deb"),
        *rootfs.glob("var/cache/apt/*.bin"),
        *(p for p in rootfs.glob("var/lib/apt/lists/*") if p.is_file()),
    ]:
        leftover.unlink()


def pack_rootfs(rootfs: Path, tarball: Path) -> None:
    """tar the rootfs with numeric owners; written aside, then renamed into place."""
    partial = tarball.with_suffix(".partial")
    run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."])
    partial.rename(tarball)


def bootstrap_rootfs(tarball: Path) -> None:
    """debootstrap + customize + tar into `tarball`; drops older cached base tarballs."""
    work = tarball.parent / "rootfs.partial"
    remove_tree(work)
    tarball.parent.mkdir(parents=True, exist_ok=True)
    try:
        debootstrap(work, debian_mirror())
        customize_rootfs(work)
        pack_rootfs(work, tarball)
    finally:
        remove_tree(work)
    for old in tarball.parent.glob(f"python-3.11-slim-{SUITE}-*.tar"):
        if old != tarball:
            old.unlink()


def import_image(tarball: Path, tags: Sequence[str], changes: Sequence[str]) -> None:
    """`podman import` a rootfs tarball with Dockerfile-like changes (ENV, CMD, LABEL...)."""
    flags = [f"--change={change}" for change in changes]
    podman("import", "--quiet", *flags, str(tarball), tags[0])
    add_tags(tags[0], *tags[1:])


def import_base(tarball: Path, recipe: str) -> None:
    """The base rootfs as `python:3.11-slim` (localhost/ and docker.io/library/ names)."""
    import_image(tarball, BASE_TAGS, [*BASE_CHANGES, f"LABEL {BASE_LABEL}={recipe}"])


# --- the pause image ------------------------------------------------------------------------


def pause_recipe() -> str:
    """A short hash of pause.c and its compiler flags."""
    digest = hashlib.sha256(PAUSE_SOURCE.read_bytes() + repr(PAUSE_CFLAGS).encode())
    return digest.hexdigest()[:12]


def compile_pause(output: Path) -> Path:
    """`gcc -static -O2` sandbox/pause/pause.c into `output`."""
    if shutil.which("gcc") is None:
        raise HostNotReady(f"missing gcc (for the pause image); {SETUP_HINT}")
    output.parent.mkdir(parents=True, exist_ok=True)
    run(["gcc", *PAUSE_CFLAGS, "-o", str(output), str(PAUSE_SOURCE)])
    return output


def pause_rootfs_tarball(binary: Path, tarball: Path) -> Path:
    """A one-file rootfs: /pause, root-owned, mode 0755."""
    with tarfile.open(tarball, "w") as archive:
        info = archive.gettarinfo(str(binary), arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o755
        with binary.open("rb") as data:
            archive.addfile(info, data)
    return tarball


def build_pause_image(recipe: str) -> None:
    """Compile pause.c and import it as registry.k8s.io/pause:3.10 (and localhost/pause:3.10)."""
    with tempfile.TemporaryDirectory(dir=podman_dir()) as tmp:
        binary = compile_pause(Path(tmp) / "pause")
        tarball = pause_rootfs_tarball(binary, Path(tmp) / "pause.tar")
        import_image(tarball, PAUSE_TAGS, [*PAUSE_CHANGES, f"LABEL {PAUSE_LABEL}={recipe}"])


# --- our Dockerfiles ------------------------------------------------------------------------


def build_image(
    dockerfile: Path | str,
    tag: str,
    *,
    also: Sequence[str] = (),
    context: Path = ROOT,
) -> str:
    """`podman build --format docker --pull=never` of one of our Dockerfiles; returns the image ID.

    Docker format, because OCI drops HEALTHCHECK. podman's layer cache makes a rebuild of an
    unchanged context take about a second.
    """
    path = Path(dockerfile)
    if not path.is_absolute():
        path = context / path
    names = [arg for name in (tag, *also) for arg in ("--tag", name)]
    with tempfile.NamedTemporaryFile(dir=podman_dir(), prefix="iid-") as iidfile:
        podman(
            "build",
            "--format=docker",
            "--pull=never",
            "--layers",
            f"--iidfile={iidfile.name}",
            f"--file={path}",
            *names,
            str(context),
        )
        return Path(iidfile.name).read_text().strip()


def save_archive(tag: str, path: Path, *more_tags: str) -> Path:
    """`podman save --format docker-archive` of one image (under every given name) for ctr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    podman("save", "--quiet", "--format=docker-archive", f"--output={path}", tag, *more_tags)
    return path


# --- everything -----------------------------------------------------------------------------


def timed(name: str, cached: bool, action: Callable[[], object]) -> Step:
    """Run `action` unless `cached`; how long it took."""
    start = time.monotonic()
    if not cached:
        log.info("%s ...", name)
        action()
    return Step(name, time.monotonic() - start, cached)


def app_dockerfiles(context: Path = ROOT) -> dict[str, tuple[str, ...]]:
    """Our Dockerfiles that exist (Dockerfile.operator comes later), with their image names."""
    return {name: tags for name, tags in APP_IMAGES.items() if (context / name).exists()}


def build_all(context: Path = ROOT) -> list[Step]:
    """Base, pause, webapp, operator (if its Dockerfile exists): each built only when needed."""
    check_host()
    podman_dir().mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    recipe = base_recipe()
    tarball = base_tarball(recipe)
    steps.append(
        timed("debootstrap", tarball.exists(), functools.partial(bootstrap_rootfs, tarball))
    )
    had_base = image_labels(BASE_TAGS[0]) is not None
    has_base = all(image_has_recipe(name, BASE_LABEL, recipe) for name in BASE_TAGS)
    steps.append(timed("base import", has_base, functools.partial(import_base, tarball, recipe)))
    pause = pause_recipe()
    had_pause = image_labels(PAUSE_TAGS[0]) is not None
    has_pause = all(image_has_recipe(name, PAUSE_LABEL, pause) for name in PAUSE_TAGS)
    steps.append(timed("pause", has_pause, functools.partial(build_pause_image, pause)))
    for dockerfile, tags in app_dockerfiles(context).items():
        build = functools.partial(build_image, dockerfile, tags[0], also=tags[1:], context=context)
        steps.append(timed(tags[0].removeprefix("localhost/"), False, build))
    # Earlier versions are untagged now: remove them (and the builds on top of them).
    replaced = (not has_base and had_base) or (not has_pause and had_pause)
    steps.append(timed("prune", not replaced, prune_dangling))
    return steps


def disk_usage(path: Path) -> int:
    """Bytes used below `path` (like `du -sb`, hard links counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            stat = os.lstat(os.path.join(dirpath, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m healthdemo_sandbox.images build|save`."""
    parser = argparse.ArgumentParser(prog="python -m healthdemo_sandbox.images")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build every image we need; print the timings")
    save = sub.add_parser("save", help="write a docker-archive of an image (for ctr import)")
    save.add_argument("image")
    save.add_argument("output", type=Path)
    save.add_argument("also", nargs="*", help="more names of the same image to record")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="images: %(message)s")
    try:
        if args.command == "save":
            check_host(("podman",))
            save_archive(args.image, args.output, *args.also)
            sys.stdout.write(f"{args.output}\n")
            return 0
        steps = build_all()
    except (HostNotReady, CommandFailed) as exc:
        sys.stderr.write(f"images: {exc}\n")
        return 1
    for step in steps:
        state = "up to date" if step.cached else "done"
        sys.stdout.write(f"{step.name:<28} {step.seconds:7.1f} s  {state}\n")
    total = sum(step.seconds for step in steps)
    usage = disk_usage(podman_dir()) / 2**20
    sys.stdout.write(f"{'total':<28} {total:7.1f} s  ({podman_dir()}: {usage:.0f} MiB)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
