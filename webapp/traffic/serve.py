"""GET /counts (the tally, for the operator) and GET /healthz, on the client's own port."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from webapp.traffic.client import Traffic


def server(traffic: Traffic, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/counts":
                self._send(200, traffic.snapshot())
            elif self.path == "/healthz":
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": f"no {self.path}: GET /counts or /healthz"})

        def _send(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the operator reads /counts every few seconds: no log line each time

    return ThreadingHTTPServer((host, port), Handler)
