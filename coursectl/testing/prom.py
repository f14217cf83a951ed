"""A private Prometheus (Debian ``prometheus``) for drills: scrapes file_sd targets every second, loopback only."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from coursectl.adapters import process

CONFIG = """global:
  scrape_interval: {scrape}s
  evaluation_interval: {scrape}s
scrape_configs:
  - job_name: coursectl
    file_sd_configs:
      - files: ['{file_sd}/*.json']
        refresh_interval: 1s
"""


class LocalPrometheus:
    def __init__(self, workdir: Path, port: int, *, scrape: int = 1):
        self.workdir, self.port, self.scrape = workdir, port, scrape
        self.file_sd = workdir / "file_sd"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def available() -> bool:
        return shutil.which("prometheus") is not None

    def start(self, timeout: float = 30.0) -> LocalPrometheus:
        self.file_sd.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(CONFIG.format(scrape=self.scrape, file_sd=self.file_sd))
        self.proc = process.spawn(
            [
                "prometheus",
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            log_path=self.workdir / "prometheus.log",
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:  # noqa: S310
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"prometheus did not start; see {self.workdir / 'prometheus.log'}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
