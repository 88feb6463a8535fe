"""Binary lookup follows envtest's order: TEST_ASSET_*, $KUBEBUILDER_ASSETS, our cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from healthdemo_sandbox import binaries, releases


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in binaries.ALL:
        monkeypatch.delenv(binaries.env_var(name), raising=False)
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("HEALTHDEMO_CACHE", str(tmp_path / "cache"))


def test_env_var_names_match_envtest() -> None:
    assert binaries.env_var("kube-apiserver") == "TEST_ASSET_KUBE_APISERVER"
    assert binaries.env_var("etcd") == "TEST_ASSET_ETCD"
    assert binaries.env_var("kubectl") == "TEST_ASSET_KUBECTL"


def test_lookup_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cached = executable(binaries.cache_dir() / "etcd")
    binaries.built().write_text("")
    assert binaries.find("etcd") == cached
    assets = executable(tmp_path / "assets" / "etcd")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets.parent))
    assert binaries.find("etcd") == assets
    explicit = executable(tmp_path / "mine" / "my-etcd")
    monkeypatch.setenv("TEST_ASSET_ETCD", str(explicit))
    assert binaries.find("etcd") == explicit


def test_an_unfinished_cache_is_not_used() -> None:
    executable(binaries.cache_dir() / "etcd")  # no .built-<version> stamp: a broken build
    assert binaries.find("etcd") is None


def test_missing_without_build_names_what_and_how(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(binaries.MissingBinaries) as raised:
        binaries.ensure(["etcd", "kube-apiserver"], allow_build=False)
    message = str(raised.value)
    assert (
        f"missing Kubernetes {releases.selected().version} binaries: etcd, kube-apiserver"
        in message
    )
    assert "TEST_ASSET_ETCD" in message
    assert "make kube-binaries" in message


def test_no_go_means_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(binaries.MissingBinaries, match="Go is not installed"):
        binaries.ensure(["etcd"])
