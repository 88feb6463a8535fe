"""`make sandbox` as a user runs it: the command the README gives, the seed's demo broken with
the command it prints and healed by the kubelet, then Ctrl-C (SIGINT to the terminal's process
group). Everything it started is gone afterwards, and the node check finds nothing left:
processes, mounts, network namespaces, cgroups, iptables rules, the bridge, host files, sysctls.

It runs first in the session (tests/node/conftest.py), before any node of the tests' own holds
the host lock."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from healthdemo_sandbox.paths import ROOT

pytestmark = pytest.mark.node

UP_SECONDS = 600  # a cold first run builds binaries and images
HEAL_SECONDS = 120
STOP_SECONDS = 120


class Output:
    """The command's output, line by line, read in a thread (so that waits can time out)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout

        def pump() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (line := self._next(deadline)) is not None:
            if found := re.search(pattern, line):
                return found
        tail = "".join(self.lines[-40:])
        raise AssertionError(f"{pattern!r} not printed within {timeout} s; last lines:\n{tail}")

    def rest(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while self._next(deadline) is not None:
            pass
        return "".join(self.lines)

    def _next(self, deadline: float) -> str | None:
        """The next line (kept), or None at the end of the output or the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            line = self._queue.get(timeout=left)
        except queue.Empty:
            return None
        if line is not None:
            self.lines.append(line)
        return line


def descendants(root: int) -> set[int]:
    """`root` and every live process below it (containerd's shims leave the tree on purpose:
    the node check finds those)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def restarts_of_demo(table_line: str, header: list[str]) -> int | None:
    cells = table_line.split()
    if len(cells) < len(header) - 1 or cells[:2] != ["default", "demo"]:
        return None
    return int(cells[header.index("RESTARTS")])


def test_make_sandbox_heals_the_demo_and_ctrl_c_leaves_nothing(node_images: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "sandbox"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )  # fmt: skip
    output = Output(proc)
    try:
        output.until(r"HealthDemo sandbox is up", UP_SECONDS)
        url = output.until(r"break it:\s+curl (http://\S+/start-failing)", 60)[1]
        output.until(r"Ctrl-C stops everything", 30)
        started = descendants(proc.pid)
        # make, python, etcd, kube-apiserver, kube-controller-manager, containerd, the kubelet...
        assert len(started) > 5, started
        with urllib.request.urlopen(url, timeout=5) as answer:  # what the user is told to run
            assert answer.status == 200
        header = output.until(r"^NAMESPACE\s+NAME\s+.*RESTARTS", 30)[0].split()
        deadline = time.monotonic() + HEAL_SECONDS
        restarts = None
        while restarts != 1 and time.monotonic() < deadline:
            line = output.until(r"^default\s+demo\s", HEAL_SECONDS)[0]
            restarts = restarts_of_demo(output.lines[-1], header) if line else None
        assert restarts == 1, "".join(output.lines[-20:])
        started |= descendants(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=STOP_SECONDS)
    text = output.rest(5)
    # (make itself reports the interrupt; its exit code says so, not how the sandbox stopped.)
    assert "stopping..." in text and "stopped; nothing left running." in text, text[-2000:]
    deadline = time.monotonic() + STOP_SECONDS
    while (still := alive(started)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not still, [Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in still]
    check = subprocess.run(
        [sys.executable, "-m", "healthdemo_sandbox.node", "check"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def alive(pids: set[int]) -> set[int]:
    """Those still running (a zombie has exited: only its parent has not looked yet)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            running.add(pid)
    return running
