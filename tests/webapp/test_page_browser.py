"""The page in a real headless Chromium, against a real `python -m webapp` over real HTTP.

Chromium and chromedriver are Debian's (`sandbox/setup-host.sh` installs them). Without them the
tests skip with the reason, or fail where HEALTHDEMO_REQUIRE_NODE=1 (CI). Every wait polls a
condition against a deadline: the page refreshes itself, in its own time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from healthdemo_sandbox import waiting
from healthdemo_sandbox.ports import free_port

from ..conftest import REQUIRE_NODE, eventually, unavailable
from .checks import exec_check, grpc_status, tcp_open
from .conftest import Served
from .webdriver import Browser, call

# This machine may have no internet: without the background-networking switches Chromium's own
# connections (updates, sync, safe browsing) hang; the sandbox needs privileges we run without.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1100",
]
FAULT_BUTTONS = [
    "start-failing",
    "stop-failing",
    "fail-next",
    "hang",
    "readiness-disable",
    "readiness-enable",
    "readiness-fail-next",
    "crash",
    "oom",
]
# Where to save a screenshot of the page with probe calls in it (for the README), if set.
SCREENSHOT = "HEALTHDEMO_PAGE_SCREENSHOT"
WAIT_S = 10.0  # the page polls every second: a few polls, with room for a busy machine


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium for the module, through chromedriver on a free loopback port."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        missing = " and ".join(
            n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p
        )
        unavailable(
            f"no browser: {missing} not found (sandbox/setup-host.sh installs them)", REQUIRE_NODE
        )
    scratch = tmp_path_factory.mktemp("chromium")
    port = free_port()
    process = subprocess.Popen(
        [driver, f"--port={port}", f"--log-path={scratch / 'chromedriver.log'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"chromedriver exited with {process.returncode}")
        try:
            return bool(call(f"{url}/status", timeout=1)["ready"])
        except OSError:
            return False

    try:
        if not waiting.poll(ready, timeout=20, interval=0.1):
            raise RuntimeError(f"chromedriver not ready on {url} within 20 s")
        options = {
            "binary": chromium,
            "args": [*CHROMIUM_ARGS, f"--user-data-dir={scratch / 'profile'}"],
        }
        session = Browser(url, {"browserName": "chrome", "goog:chromeOptions": options})
        try:
            yield session
        finally:
            session.quit()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shows(browser: Browser, css: str, wanted: str | Callable[[str], bool]) -> str:
    """Wait until the element's text is `wanted` (or passes it); its text, or a failure that
    says what the page showed instead."""
    test = wanted if callable(wanted) else wanted.__eq__
    seen = [""]

    def check() -> bool:
        seen[0] = browser.text(css)
        return test(seen[0])

    if not waiting.poll(check, timeout=WAIT_S, interval=0.1):
        raise AssertionError(f"{css} shows {seen[0]!r}, not {wanted!r}, after {WAIT_S} s")
    return seen[0]


def row(browser: Browser, *parts: str) -> str:
    """Wait for a row of the probe-call list that contains every one of `parts`."""
    found = waiting.poll(
        lambda: next(
            (r for r in browser.texts("#calls tbody tr") if all(p in r for p in parts)), ""
        ),
        timeout=WAIT_S,
        interval=0.2,
    )
    if not found:
        raise AssertionError(f"no row with {parts} in {browser.texts('#calls tbody tr')}")
    return found


def kubelet_probe(served: Served, path: str) -> int:
    """A request as the kubelet's HTTP prober makes it: its User-Agent, any answer accepted."""
    request = urllib.request.Request(served.url + path, headers={"User-Agent": "kube-probe/1.34"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as failed:
        return failed.code


def test_the_page_shows_the_state_and_a_fault_breaks_and_heals_it(
    browser: Browser, served: Served
) -> None:
    browser.get(served.url + "/")
    shows(browser, "#liveness-state", "healthy")
    shows(browser, "#readiness-state", "ready")
    shows(browser, "#startup-state", "started")
    assert browser.text("#hostname") == socket.gethostname()  # the Pod's name, in a Pod
    assert browser.text("#container") == "#0"
    assert browser.text("#connection").startswith("live")
    shows(browser, "#faults-mode", lambda text: "Each button calls" in text)
    assert not any(browser.prop(f"#{b}", "disabled") for b in FAULT_BUTTONS)

    browser.click("#start-failing")
    shows(browser, "#liveness-state", "failing")
    assert browser.prop("#liveness", "dataset")["state"] == "bad"
    assert served.call("/healthz")[0] == 500
    assert browser.text("#fault-result").startswith("POST /start-failing → 200")
    shows(browser, "#readiness-state", "ready")  # liveness only

    browser.click("#stop-failing")
    shows(browser, "#liveness-state", "healthy")
    assert served.call("/healthz")[0] == 200


def test_the_page_lists_the_probe_calls_with_who_asked(browser: Browser, served: Served) -> None:
    browser.get(served.url + "/")
    shows(browser, "#liveness-state", "healthy")
    assert kubelet_probe(served, "/healthz") == 200
    assert row(browser, "liveness", "http", "200", "kubelet", "kube-probe/1.34")
    # Every kind shows what the app can see of it.
    assert exec_check(served, "readiness") == 0
    assert row(browser, "readiness", "exec", "200", "kubelet", "healthdemo-exec-check/")
    assert grpc_status(served, "liveness", user_agent="kube-probe/1.34") == 1  # SERVING
    assert row(browser, "liveness", "grpc", "SERVING", "kubelet", "kube-probe/1.34")
    assert eventually(lambda: tcp_open(served.ports["TCP_READINESS_PORT"]), WAIT_S, "TCP port")
    assert row(browser, "readiness", "tcp", "accepted", "can't tell", "(no User-Agent)")

    browser.type("#fail-next-count", "1")
    browser.click("#fail-next")
    shows(browser, "#liveness-detail", "the next 1 checks fail")
    assert kubelet_probe(served, "/healthz") == 500
    assert row(browser, "liveness", "http", "500 fail-next", "kube-probe/1.34")
    shows(browser, "#liveness-state", "healthy")  # one failure, then it heals by itself

    browser.click("#start-failing")
    shows(browser, "#liveness-state", "failing")
    assert kubelet_probe(served, "/healthz") == 500
    assert row(browser, "liveness", "http", "500 start-failing", "kube-probe/1.34")
    if os.environ.get(SCREENSHOT):
        Path(os.environ[SCREENSHOT]).write_bytes(browser.screenshot())


def test_with_faults_disabled_every_button_is_off_and_says_why(
    browser: Browser, served_with: Callable[[dict[str, str]], Served]
) -> None:
    served = served_with({"WEBAPP_FAULTS": "disabled"})
    browser.get(served.url + "/")
    shows(browser, "#faults-mode", lambda text: "WEBAPP_FAULTS=disabled" in text)
    for button in FAULT_BUTTONS:
        assert browser.prop(f"#{button}", "disabled") is True, button
        assert "WEBAPP_FAULTS=disabled" in browser.prop(f"#{button}", "title"), button
    assert browser.prop("#token-row", "hidden") is True


def test_with_a_token_the_page_sends_the_one_entered(
    browser: Browser, served_with: Callable[[dict[str, str]], Served]
) -> None:
    served = served_with({"WEBAPP_FAULTS": "token", "WEBAPP_FAULTS_TOKEN": "s3cret"})
    browser.get(served.url + "/")
    shows(browser, "#faults-mode", lambda text: "X-Fault-Token" in text)
    assert browser.prop("#token-row", "hidden") is False
    browser.click("#start-failing")
    shows(browser, "#fault-result", lambda text: text.startswith("POST /start-failing → 401"))
    assert served.call("/healthz")[0] == 200

    browser.type("#token", "s3cret")
    browser.click("#start-failing")
    shows(browser, "#liveness-state", "failing")
    assert served.call("/healthz")[0] == 500


# Where to save a screenshot of the traffic client's page after a failure window (README).
TRAFFIC_SCREENSHOT = "HEALTHDEMO_TRAFFIC_SCREENSHOT"


def test_the_traffic_page_shows_each_failure_window_and_what_it_lost(
    browser: Browser, served: Served, tmp_path: Path
) -> None:
    """The traffic client's page (GET / on its port) against a real webapp: a spell of 500s
    shows as one window with the requests it lost, the same numbers as its /counts."""
    from .test_traffic import Client  # noqa: PLC0415  # the client's process, as its tests run it

    client = Client(served.url + "/work", tmp_path / "tally.json", rate=10)
    try:
        eventually(lambda: client.counts()["answers"].get("ok", 0) >= 5, what="5 ok answers")
        served.call("/start-failing", method="POST")
        eventually(lambda: client.counts()["answers"].get("5xx", 0) >= 5, what="5 answers 5xx")
        served.call("/stop-failing", method="POST")
        counts = eventually(
            lambda: (c := client.counts())["windows"] and c["windows"][-1]["closedAt"] and c,
            what="the window closed by an ok answer",
        )
        (window,) = counts["windows"]
        lost = sum(window["counts"].values())
        browser.get(f"http://127.0.0.1:{client.port}/")
        shows(browser, "#connection", "live")
        (first,) = browser.texts("#windows tbody tr")
        cells = first.split("\t")
        assert cells[2:4] == [str(lost), f"{lost} 5xx"], first
        assert "still failing" not in first
        shows(browser, "#lost", lambda text: int(text) == lost)  # nothing lost since
        assert browser.prop("#lost-card", "dataset")["state"] == "bad"
        assert served.url.split("//")[1] in browser.text("#target")
        if os.environ.get(TRAFFIC_SCREENSHOT):
            Path(os.environ[TRAFFIC_SCREENSHOT]).write_bytes(browser.screenshot())
    finally:
        client.stop()
