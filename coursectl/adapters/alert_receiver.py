"""The receiver's HTTP server on 127.0.0.1: Alertmanager webhook posts in, the ledger's metrics out.

Single-threaded on purpose: the handlers use the ledger's SQLite connection, which belongs to the thread that
serves. ``POST /alertmanager`` → ``on_alerts(payload)`` (200 with its JSON answer; 400 for a payload that is not
Alertmanager's; 502 when no delivery succeeded, so Alertmanager tries again); ``GET /metrics`` → ``metrics()``
as Prometheus text; ``GET /healthz`` → ``ok``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from coursectl.errors import CoursectlError, PreconditionError

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024


class ReceiverServer:
    """See the module docstring. ``serve()`` blocks until ``stop()`` (from a signal handler or thread)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        on_alerts: Callable[[Mapping[str, Any]], tuple[bool, dict[str, Any]]],
        metrics: Callable[[], str],
    ):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise PreconditionError(
                f"the receiver listens on loopback only, not {host}",
                hint="use --listen 127.0.0.1:PORT and put a proxy in front if needed",
            )
        handler = _handler(on_alerts, metrics)
        try:
            self._server = HTTPServer((host, port), handler)
        except OSError as exc:
            raise PreconditionError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="choose another port (sandbox.receiver_port)",
            ) from exc

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def serve(self) -> None:
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()


def _handler(
    on_alerts: Callable[[Mapping[str, Any]], tuple[bool, dict[str, Any]]], metrics: Callable[[], str]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "coursectl-receiver"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, doc: Mapping[str, Any]) -> None:
            self._send(status, json.dumps(doc).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif path == "/metrics":
                try:
                    text = metrics()
                except CoursectlError as exc:
                    self._send(503, f"# ledger not readable: {exc.message}\n".encode(), "text/plain")
                    return
                self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._json(404, {"error": "not found", "paths": ["/alertmanager", "/metrics", "/healthz"]})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path.split("?", 1)[0] != "/alertmanager":
                self._json(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._json(400, {"error": f"expected a JSON body of 1..{MAX_BODY} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError as exc:
                self._json(400, {"error": f"not JSON: {exc}"})
                return
            try:
                ok, answer = on_alerts(body)
            except CoursectlError as exc:
                self._json(400 if exc.exit_code == 2 else 500, {"error": exc.message})
                return
            self._json(200 if ok else 502, answer)

    return Handler
