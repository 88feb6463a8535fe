"""Our podman-built images as one docker-archive for `ctr images import`, cached by image IDs.

One multi-image archive, not one per image: the webapp and operator images share the base
layers, which are then written and imported once (370 MB instead of 570 MB). The archive is named
after the images' IDs and reused until one of them changes (a rebuild gives a new ID; the old
archive is removed). podman records every name given, so the docker.io/library/ names Pods ask
for (`image: flask-webapp:latest`) resolve in containerd without a registry.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from healthdemo_sandbox import images
from healthdemo_sandbox.paths import cache_root

# The Pod sandbox, the webapp, the operator (if built), each under all its names.
NODE_IMAGES: tuple[tuple[str, ...], ...] = (
    images.PAUSE_TAGS[:1],
    images.APP_IMAGES["Dockerfile.webapp"],
    images.APP_IMAGES["Dockerfile.operator"],
)
PREFIX = "node-images-"


def archive_dir() -> Path:
    return cache_root() / "archives"


def image_id(ref: str) -> str | None:
    result = images.podman("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def node_archive(wanted: Sequence[Sequence[str]] = NODE_IMAGES) -> Path:
    """The archive of every wanted image that exists locally (the pause image must)."""
    present = [(tuple(tags), image_id(tags[0])) for tags in wanted]
    if present[0][1] is None:
        raise images.CommandFailed(f"no image {wanted[0][0]}: build the images first")
    chosen = [(tags, ident) for tags, ident in present if ident is not None]
    key = hashlib.sha256(repr(chosen).encode()).hexdigest()[:16]
    directory = archive_dir()
    path = directory / f"{PREFIX}{key}.tar"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{path.name}.{os.getpid()}"
    names = [name for tags, _ in chosen for name in tags]
    images.podman(
        "save", "--quiet", "--multi-image-archive", "--format=docker-archive",
        f"--output={partial}", *names,
    )  # fmt: skip
    partial.rename(path)
    for old in directory.glob(f"{PREFIX}*.tar"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
