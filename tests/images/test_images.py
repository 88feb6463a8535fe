"""The images we build ourselves behave as their Dockerfiles promise, under a real runtime."""

from __future__ import annotations

import json
import os
import resource
import tarfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest
from healthdemo_sandbox import images

from .conftest import WebappContainer, container, inspect

WEBAPP = images.APP_IMAGES["Dockerfile.webapp"][0]


def test_webapp_answers_healthz_over_http(webapp: WebappContainer) -> None:
    assert webapp.call("/healthz") == (200, {"status": "ok"})
    status, info = webapp.call("/")
    assert status == 200
    assert info["hostname"] == inspect(webapp.name)["Config"]["Hostname"]  # the container answered


def test_webapp_runs_as_uid_10001(webapp: WebappContainer) -> None:
    assert webapp.exec("id", "-u") == "10001"
    status = Path(f"/proc/{webapp.host_pid()}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["10001"] * 4  # real, effective, saved, filesystem


def test_webapp_cmd_is_exec_form(webapp: WebappContainer) -> None:
    config = inspect(WEBAPP, "image")["Config"]
    assert config["Cmd"] == ["python", "-m", "webapp"]
    assert not config.get("Entrypoint")
    # Exec form: PID 1 is python itself, no `/bin/sh -c` in between to swallow SIGTERM.
    cmdline = Path(f"/proc/{webapp.host_pid()}/cmdline").read_bytes().split(b"\0")
    assert [part.decode() for part in cmdline if part] == ["python", "-m", "webapp"]


def test_webapp_serves_its_page_from_the_installed_package(webapp: WebappContainer) -> None:
    """The image installs the package, not the source tree: the page's template, script and
    style reach it only as package data."""
    for path, accept, kind in (
        ("/", "text/html", "text/html"),
        ("/page/page.js", "*/*", "text/javascript"),
        ("/page/page.css", "*/*", "text/css"),
    ):
        request = urllib.request.Request(webapp.url + path, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200, path
            assert response.headers["Content-Type"].startswith(kind), path
            assert response.read(), path


def test_healthcheck_passes_then_fails_after_start_failing(webapp: WebappContainer) -> None:
    image = inspect(WEBAPP, "image")
    assert image["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json"
    check = image["Healthcheck"]  # the OCI format would have dropped it
    assert "/healthz" in " ".join(check["Test"])
    assert check["Retries"] == 3
    assert webapp.healthcheck() == 0
    # Failures inside the start period do not count towards the retries.
    start_period = check["StartPeriod"] / 1e9
    time.sleep(max(0.0, webapp.started + start_period + 0.5 - time.monotonic()))
    assert webapp.call("/start-failing", "POST")[0] == 200
    try:
        codes = [webapp.healthcheck() for _ in range(check["Retries"])]
        assert all(code != 0 for code in codes), codes
        health = inspect(webapp.name)["State"]["Health"]
        assert health["Status"] == "unhealthy"
        assert health["FailingStreak"] == check["Retries"]
    finally:
        webapp.call("/stop-failing", "POST")
    assert webapp.healthcheck() == 0  # recovered without a restart
    assert inspect(webapp.name)["State"]["Health"]["Status"] == "healthy"


def test_pause_exits_zero_on_sigterm(built_images: Sequence[images.Step]) -> None:
    with container(images.PAUSE_TAGS[0], "--network=none") as name:
        assert inspect(name)["State"]["Running"]
        assert inspect(name)["Config"]["User"] == "65535:65535"
        start = time.monotonic()
        images.podman("kill", "--signal=TERM", name)
        exit_code = images.podman("wait", name, timeout=30).stdout.strip()
        elapsed = time.monotonic() - start
    assert exit_code == "0"
    assert elapsed < 3, f"pause took {elapsed:.1f} s to exit on SIGTERM"


def test_save_archive_is_a_docker_archive_with_our_names(
    built_images: Sequence[images.Step], tmp_path: Path
) -> None:
    archive = images.save_archive(
        images.PAUSE_TAGS[0], tmp_path / "pause.tar", *images.PAUSE_TAGS[1:]
    )
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        (entry,) = json.load(manifest)
    assert sorted(entry["RepoTags"]) == sorted(images.PAUSE_TAGS)


# --- without podman: the host checks and the configuration we write -------------------------


def test_not_root_is_told_to_run_setup_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(images.HostNotReady, match=r"needs root.*sandbox/setup-host\.sh"):
        images.check_host()


def test_missing_tools_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(images.HostNotReady, match=r"missing podman, runc; run `sandbox/setup"):
        images.check_host()


def test_podman_config_fits_this_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEALTHDEMO_CACHE", str(tmp_path))
    env = images.podman_env()
    conf = Path(env["CONTAINERS_CONF"]).read_text()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert f'"nofile={nofile}:{nofile}"' in conf  # no higher than our hard limit
    for setting in ('cgroup_manager = "cgroupfs"', 'events_logger = "file"', 'runtime = "runc"'):
        assert setting in conf
    storage = Path(env["CONTAINERS_STORAGE_CONF"]).read_text()
    assert f'graphroot = "{tmp_path}/podman/storage"' in storage
    assert 'driver = "overlay"' in storage
    registries = Path(env["CONTAINERS_REGISTRIES_CONF"]).read_text()
    assert "unqualified-search-registries = []" in registries
