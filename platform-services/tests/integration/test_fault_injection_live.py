"""Fault injection in a real service process: FAULT_ERROR_RATE=0.2 gives ~20 % 500s, visible in /metrics;
unset, none."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ManagedProcess, free_port, wait_until

pytestmark = pytest.mark.integration


def start_course(tmp_path: Path, **env: str) -> tuple[ManagedProcess, str]:
    port = free_port()
    full = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "FAULT_ERROR_RATE": "", "FAULT_LATENCY_MS": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'course.db'}", "REDIS_URL": "", **env}
    proc = ManagedProcess("course", [sys.executable, "-m", "course_service"], log=tmp_path / "course.log",
                          env=full, cwd=str(tmp_path)).start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/health/ready", timeout=2).status_code == 200, 30, "course service",
               proc=proc.proc, log=tmp_path / "course.log")
    return proc, url


def count(text: str, status: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and 'route="/api/course/courses"' in line \
                and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("rate,lo,hi", [("0.2", 150, 250), ("", 0, 0)])
def test_fault_error_rate_over_1000_requests(tmp_path: Path, rate: str, lo: int, hi: int) -> None:
    proc, url = start_course(tmp_path, FAULT_ERROR_RATE=rate)
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            statuses = [client.get("/api/course/courses").status_code for _ in range(1000)]
            failures = statuses.count(500)
            assert set(statuses) <= {200, 500}
            assert lo <= failures <= hi, failures
            assert all(client.get("/health/ready").status_code == 200 for _ in range(20))
            text = client.get("/metrics").text
        assert count(text, "500") == failures
        assert count(text, "200") == 1000 - failures
    finally:
        proc.stop()
