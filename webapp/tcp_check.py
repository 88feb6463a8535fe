"""The tcpSocket probe's lesson: a port that accepts connections only while its check passes.

A TCP probe proves no more than "something accepts connections here", so the only way for an
app to fail one is to stop listening. Port 5001 listens while the app is live, 5002 while it is
ready; both stay closed while it starts. A connection is accepted and closed at once: the kubelet
sends nothing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from webapp.state import HealthState

# Told of each accepted connection: (probe, the peer's "host:port"), for the recent calls.
OnAccept = Callable[[str, str], None]


class TcpCheck:
    """Listens on `port` exactly while `state.tcp_port_open(probe)`; follows every change."""

    def __init__(
        self,
        state: HealthState,
        probe: str,
        host: str,
        port: int,
        on_accept: OnAccept | None = None,
    ) -> None:
        self.state, self.probe, self.host, self.port = state, probe, host, port
        self.on_accept = on_accept
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        state.add_listener(self.update)
        self.update()

    @property
    def listening(self) -> bool:
        with self._lock:
            return self._listener is not None

    def update(self) -> None:
        with self._lock:
            wanted = self.state.tcp_port_open(self.probe)
            if wanted and self._listener is None:
                self._listener = self._listen()
            elif not wanted and self._listener is not None:
                # shutdown wakes the thread blocked in accept(); close alone would not.
                self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None

    def _listen(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        threading.Thread(
            target=self._accept, args=(listener,), name=f"tcp-check-{self.port}", daemon=True
        ).start()
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, peer = listener.accept()
            except OSError:
                return  # the port was closed: the check fails until it reopens
            connection.close()
            if self.on_accept is not None:
                self.on_accept(self.probe, f"{peer[0]}:{peer[1]}")
