"""Helm, built with Go from its published module at one pinned version, like the Kubernetes
binaries (`binaries`): for the chart in charts/healthdemo and its tests.

`go install helm.sh/helm/v4/cmd/helm@<VERSION>` builds Helm's own build list (its go.mod, as its
release does), with GOBIN in a temporary folder; the binary is checked (`helm version` reports
VERSION) and only then moved to ~/.cache/healthdemo/helm/<VERSION>/helm and stamped with a hash of
what made it (version, Go toolchain, flags). A later build with the same inputs is a no-op.

Lookup order: HEALTHDEMO_HELM (an explicit binary), then the stamped cache.

    python -m healthdemo_sandbox.helm build   # builds once (cold: minutes), prints the path
    python -m healthdemo_sandbox.helm path    # prints the path, or exits 1 saying how to build
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from healthdemo_sandbox.paths import cache_root

VERSION = "v4.3.2"
MODULE = "helm.sh/helm/v4"
PACKAGE = f"{MODULE}/cmd/helm"
ENV = "HEALTHDEMO_HELM"
# Helm's own Makefile stamps the version this way; module zips carry no git data ("archive", as
# sandbox/kubebin says of the Kubernetes builds).
LDFLAGS = (
    f"-s -w -X {MODULE}/internal/version.version={VERSION} "
    f"-X {MODULE}/internal/version.gitTreeState=archive"
)


class MissingHelm(RuntimeError):
    """Helm is neither given nor built; the message says how to get it."""


def cache_dir() -> Path:
    return cache_root() / "helm" / VERSION


def stamp() -> Path:
    """Written once the binary is in place and reports VERSION; holds the inputs' hash."""
    return cache_dir() / f".built-{VERSION}"


def find() -> Path | None:
    """The helm binary to use, without building anything."""
    candidates = []
    if explicit := os.environ.get(ENV):
        candidates.append(Path(explicit))
    if stamp().exists():
        candidates.append(cache_dir() / "helm")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise MissingHelm(
            f"Go is not installed, so Helm {VERSION} cannot be built (`go install {PACKAGE}@"
            f"{VERSION}`); install Go, or point {ENV} at a helm {VERSION} binary."
        )
    return go


def _inputs_hash(go: str) -> str:
    toolchain = subprocess.run(
        [go, "version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    cgo = os.environ.get("CGO_ENABLED", "0")
    text = "\n".join((PACKAGE, VERSION, LDFLAGS, toolchain, f"CGO_ENABLED={cgo}"))
    return hashlib.sha256(text.encode()).hexdigest()


def _reported_version(binary: Path) -> str:
    result = subprocess.run(
        [str(binary), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else result.stderr.strip()


def build(*, force: bool = False) -> Path:
    """Build Helm VERSION into the cache (minutes when cold; a no-op when built); its path."""
    go = _go()
    target = cache_dir() / "helm"
    digest = _inputs_hash(go)
    if (
        not force
        and stamp().exists()
        and stamp().read_text().strip() == digest
        and target.is_file()
        and os.access(target, os.X_OK)
    ):
        return target
    stamp().unlink(missing_ok=True)
    cache_dir().mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0"), "GOWORK": "off"}
    with tempfile.TemporaryDirectory(prefix=".build-", dir=cache_dir()) as scratch:
        env["GOBIN"] = scratch
        sys.stderr.write(f"building helm {VERSION} with {go} (go install {PACKAGE}@{VERSION})\n")
        subprocess.run(
            [go, "install", "-trimpath", "-ldflags", LDFLAGS, f"{PACKAGE}@{VERSION}"],
            env=env,
            check=True,
        )
        built = Path(scratch) / "helm"
        if (reported := _reported_version(built)) != VERSION:
            raise MissingHelm(f"the built helm reports {reported!r}, not {VERSION}")
        built.replace(target)  # atomic: a running helm keeps its old file
    stamp().write_text(digest + "\n")
    return target


def ensure(*, allow_build: bool = True) -> Path:
    """The helm binary; built with Go if allowed and missing, else MissingHelm."""
    found = find()
    if found is None and allow_build:
        found = build()
    if found is None:
        raise MissingHelm(
            f"no helm {VERSION} (looked in ${ENV} and {cache_dir()}). Build it with "
            "`make kube-binaries` or `python -m healthdemo_sandbox.helm build` (needs Go)."
        )
    return found


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["build"]:
                path = build()
            case ["path"]:
                path = ensure(allow_build=False)
            case _:
                sys.stderr.write("usage: python -m healthdemo_sandbox.helm build|path\n")
                return 2
    except (MissingHelm, subprocess.CalledProcessError) as exc:
        sys.stderr.write(f"helm: {exc}\n")
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
