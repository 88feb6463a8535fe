"""Free TCP ports, so that every server we start (and every test's) can run side by side."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just had free on `host` ("" = every address); bind it soon after."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
