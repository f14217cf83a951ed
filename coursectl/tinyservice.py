"""A tiny stand-in service (stdlib only) for edge and rollout drills without images: health, version,
an /api/<service>/ echo, Prometheus-style /metrics, FAULT_ERROR_RATE, FAULT_LATENCY_MS and FAULT_NOT_READY (the
readiness check answers 503 while everything else works: a slot that must not get traffic).

Like the platform's services it counts every request by route template — health checks, scrapes and version
probes too — so analysis has to leave those routes out to judge user traffic only.

Run: ``python -m coursectl.tinyservice`` with SERVICE, VERSION, HOST (127.0.0.1 only) and PORT.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = os.environ.get("SERVICE", "svc")
VERSION = os.environ.get("VERSION", "0")
ERROR_RATE = float(os.environ.get("FAULT_ERROR_RATE", "0") or 0)
LATENCY_MS = float(os.environ.get("FAULT_LATENCY_MS", "0") or 0)
NOT_READY = os.environ.get("FAULT_NOT_READY", "") not in ("", "0")
ROUTE = "/{path}"  # one route template for every user request, like a real service's templated routes
OWN_ROUTES = ("/health/ready", "/health/live", "/metrics", "/version")
# the 200 and 500 series exist from the start: Prometheus' rate() misses what a series did before its first sample
COUNTS: dict[tuple[str, int], int] = {(ROUTE, 200): 0, (ROUTE, 500): 0}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HIST: dict[str, list[int]] = {ROUTE: [0] * (len(BUCKETS) + 1)}
SUM: dict[str, float] = {ROUTE: 0.0}
LOCK = threading.Lock()


def observe(route: str, status: int, took: float) -> None:
    with LOCK:
        COUNTS[(route, status)] = COUNTS.get((route, status), 0) + 1
        hist = HIST.setdefault(route, [0] * (len(BUCKETS) + 1))
        hist[next((i for i, b in enumerate(BUCKETS) if took <= b), len(BUCKETS))] += 1
        SUM[route] = SUM.get(route, 0.0) + took


def exposition() -> str:
    with LOCK:
        lines = [
            f'http_requests_total{{service="{SERVICE}",status="{s}",route="{r}"}} {n}'
            for (r, s), n in sorted(COUNTS.items())
        ]
        for route, hist in sorted(HIST.items()):
            labels = f'service="{SERVICE}",route="{route}"'
            cumulative = 0
            for le, n in zip((*map(str, BUCKETS), "+Inf"), hist, strict=True):
                cumulative += n
                lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}')
            lines.append(f"http_request_duration_seconds_count{{{labels}}} {cumulative}")
            lines.append(f"http_request_duration_seconds_sum{{{labels}}} {SUM[route]}")
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        started = time.monotonic()
        path = self.path.split("?", 1)[0]
        if path in OWN_ROUTES:  # never faulty, never slowed down (as the platform's exempt routes)
            if path == "/metrics":
                body, ctype = exposition().encode(), "text/plain"
            elif path == "/version":
                body, ctype = json.dumps({"service": SERVICE, "version": VERSION}).encode(), "application/json"
            elif path == "/health/ready" and NOT_READY:
                observe(path, 503, time.monotonic() - started)
                return self._send(503, b'{"status":"not ready"}')
            else:
                body, ctype = b'{"status":"ok"}', "application/json"
            observe(path, 200, time.monotonic() - started)
            return self._send(200, body, ctype)
        if LATENCY_MS:
            time.sleep(LATENCY_MS / 1000)
        status = 500 if ERROR_RATE and random.random() < ERROR_RATE else 200
        observe(ROUTE, status, time.monotonic() - started)
        body = json.dumps({"service": SERVICE, "version": VERSION, "path": path}).encode()
        return self._send(status, body)


def main() -> None:
    host = os.environ.get("HOST", "127.0.0.1")
    if not host.startswith("127."):
        raise SystemExit("tinyservice listens on loopback only")
    ThreadingHTTPServer.request_queue_size = 256  # the default backlog of 5 drops SYNs under load (1 s retries)
    server = ThreadingHTTPServer((host, int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
