"""Where things are: the repository (crds/, deploy/, operator/, Dockerfiles) and our cache."""

from __future__ import annotations

import os
from pathlib import Path

# This file is <repo>/sandbox/healthdemo_sandbox/paths.py; the package is installed editable.
ROOT = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """`${HEALTHDEMO_CACHE:-~/.cache/healthdemo}`: the binaries, images and node state, kept
    between runs so a warm start takes seconds (read at call time, so tests can redirect it)."""
    return Path(os.environ.get("HEALTHDEMO_CACHE") or Path.home() / ".cache" / "healthdemo")
