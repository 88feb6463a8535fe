"""sandbox/healthdemo_sandbox/helm.py finds helm as `binaries` finds the Kubernetes ones: an
explicit HEALTHDEMO_HELM first, then the cache only once its build was stamped (no Go is run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from healthdemo_sandbox import helm


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(helm.ENV, raising=False)
    monkeypatch.setenv("HEALTHDEMO_CACHE", str(tmp_path / "cache"))


def test_the_cache_is_per_version() -> None:
    assert helm.cache_dir().parts[-2:] == ("helm", helm.VERSION)
    assert helm.VERSION.startswith("v4.")


def test_an_unstamped_build_is_not_used() -> None:
    executable(helm.cache_dir() / "helm")  # no .built-<version>: an unfinished build
    assert helm.find() is None
    helm.stamp().write_text("hash\n")
    assert helm.find() == helm.cache_dir() / "helm"


def test_an_explicit_binary_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    executable(helm.cache_dir() / "helm")
    helm.stamp().write_text("hash\n")
    mine = executable(tmp_path / "mine" / "helm")
    monkeypatch.setenv(helm.ENV, str(mine))
    assert helm.find() == mine


def test_missing_without_build_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(helm.MissingHelm) as raised:
        helm.ensure(allow_build=False)
    assert helm.VERSION in str(raised.value)
    assert "make kube-binaries" in str(raised.value)


def test_the_version_is_stamped_into_the_binary() -> None:
    """`helm version` must report the pinned version, not the module's "v4.3" placeholder."""
    assert f"{helm.MODULE}/internal/version.version={helm.VERSION}" in helm.LDFLAGS
