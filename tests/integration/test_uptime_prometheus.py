"""Uptime from a real Prometheus (Debian `prometheus`) scraping a tiny service that is stopped for part of the
window. Prometheus is started here as a process (127.0.0.1, free port, scrape interval 1 s)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package prometheus is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Target:
    """A /metrics endpoint that can be stopped and started again on the same port."""

    def __init__(self, port: int):
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = b"# TYPE demo_requests_total counter\ndemo_requests_total 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (127.0.0.1 only)
        return json.loads(resp.read())


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, _Target]]:
    target = _Target(_free_port())
    target.start()
    port = _free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: demo\n"
        "    scrape_interval: 1s\n"
        "    scrape_timeout: 500ms\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target.port}']}}]\n",
        encoding="utf-8",
    )
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=1):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((tmp_path / "prometheus.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield base, target
    finally:
        target.stop()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_uptime_counts_the_time_the_service_was_down(prometheus, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, target = prometheus
    deadline = time.monotonic() + 15
    while not _api(base, "/api/v1/query", query="up")["data"]["result"]:  # first scrape landed
        assert time.monotonic() < deadline, "Prometheus never scraped the target"
        time.sleep(0.2)
    start = time.time()
    time.sleep(5)
    target.stop()
    time.sleep(4)
    target.start()
    time.sleep(4)
    end = time.time()

    cfg = tmp_path / "coursectl.yaml"
    cfg.write_text(
        "project: t\nservices:\n  demo: {path: demo, port: 8001}\nregistry: {url: 127.0.0.1:5000}\n"
        f"environments:\n  prod: {{target: docker}}\nmetrics:\n  timezone: UTC\n  prometheus: {{url: '{base}',"
        " query: 'avg(avg_over_time(up[{window}]))'}\n",  # scrapes, not the default blackbox probes: no exporter here
        encoding="utf-8",
    )
    iso = lambda ts: datetime.fromtimestamp(ts, UTC).isoformat()  # noqa: E731
    code, out, err = cli("-c", str(cfg), "metrics", "report", "--from", iso(start), "--to", iso(end), "-f", "json")
    assert code == 0, err
    uptime = next(m for m in json.loads(out)["metrics"] if m["key"] == "uptime")
    assert uptime["status"] == "missed", uptime
    assert uptime["source"].startswith(f"Prometheus {base}: avg(avg_over_time(up[")

    # the same figure worked out independently from the raw samples of `up` in the window
    seconds = max(1, int(round(end - start)))
    raw = _api(base, "/api/v1/query", query=f"up[{seconds}s]", time=f"{end:.3f}")["data"]["result"]
    samples = [float(v) for _, v in raw[0]["values"]]
    assert 0.0 in samples and 1.0 in samples
    assert uptime["value"] == pytest.approx(sum(samples) / len(samples), abs=1e-9)
    assert 0.5 < uptime["value"] < 0.85  # about 9 s up of 13 s
