"""GET /counts (the tally, for the operator), GET /healthz, and GET / (a page that draws the
tally, for a browser through `kubectl port-forward`), on the client's own port."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from webapp.csp import CSP
from webapp.traffic.client import Traffic

HERE = Path(__file__).resolve().parent
# The page's files (package data): its own, and the webapp page's style, shared.
FILES = {
    "/": (HERE / "static" / "traffic.html", "text/html; charset=utf-8"),
    "/page/traffic.js": (HERE / "static" / "traffic.js", "text/javascript; charset=utf-8"),
    "/page/page.css": (HERE.parent / "static" / "page.css", "text/css; charset=utf-8"),
}


def server(traffic: Traffic, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/counts":
                counts = traffic.snapshot()
                self._send(200, counts)
                if counts["final"]:
                    traffic.taken.set()
            elif self.path == "/healthz":
                self._send(200, {"status": "ok"})
            elif self.path in FILES:
                path, kind = FILES[self.path]
                self._file(path.read_bytes(), kind)
            else:
                self._send(404, {"error": f"no {self.path}: GET /, /counts or /healthz"})

        def _file(self, data: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Security-Policy", CSP)
            self.end_headers()
            self.wfile.write(data)

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
