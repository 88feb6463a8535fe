"""Child processes that never outlive us: own session, PDEATHSIG, SIGTERM then SIGKILL on stop."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

from healthdemo_sandbox import waiting

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel SIGKILLs it if our process dies (even SIGKILLed).

    PDEATHSIG fires when the *thread* that forked exits, so start processes from a long-lived
    thread (the main thread in practice).
    """
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_on_signals() -> threading.Event:
    """An Event set by SIGTERM or SIGINT (Ctrl-C): command-line front ends wait on it, then
    stop their processes in order instead of dying mid-way."""
    stopped = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stopped


class ProcessFailed(RuntimeError):
    """A managed process exited or never became ready; the message carries its log tail."""


class ManagedProcess:
    """One long-running binary with its log file."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in order
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, safe after fork
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def wait_until(
        self, ready: Callable[[], bool], *, what: str, timeout: float, interval: float = 0.1
    ) -> float:
        """Poll `ready` until true; fail fast, with the log tail, if the process exits.

        Returns the seconds it took; an OSError from `ready` (not listening yet) counts as no."""
        start = time.monotonic()

        def check() -> bool:
            if not self.running():
                raise ProcessFailed(
                    f"{self.name} exited (code {self.proc.returncode if self.proc else None}) "
                    f"before {what}; last log lines from {self.log_path}:\n{self.log_tail()}"
                )
            try:
                return ready()
            except OSError:
                return False

        if waiting.poll(check, timeout=timeout, interval=interval):
            return time.monotonic() - start
        raise ProcessFailed(
            f"{self.name}: not {what} after {timeout:.0f} s; last log lines from "
            f"{self.log_path}:\n{self.log_tail()}"
        )
