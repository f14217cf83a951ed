"""The load test of a staging stage: a bounded, paced load on the journey's read paths, judged against thresholds.

``run_load`` sends at most ``rps × duration`` requests from ``connections`` threads (keep-alive http.client),
paced to the target rate, for at most ``duration`` seconds plus the request time-out; ``judge`` (pure) decides:
p95 latency, error rate, and whether the target rate was reached at all — a generator that could not send what
was asked says so instead of passing.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from coursectl.errors import UsageError

DEFAULT_PATHS = (
    "/api/course/courses?page_size=5",
    "/api/course/courses",
    "/api/course/courses?page=2&page_size=5",
)
"""The journey's anonymous read: the catalogue, as a visitor browses it (the edge does not route the services'
health paths, so they are never part of a user's load)."""


@dataclass
class LoadReport:
    """What the load did: requests sent and failed, latencies (seconds), the time it took."""

    url: str
    target_rps: float
    duration: float
    sent: int = 0
    failed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def achieved_rps(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def error_rate(self) -> float | None:
        return self.failed / self.sent if self.sent else None

    @property
    def p95(self) -> float | None:
        return percentile(self.latencies, 0.95)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "target_rps": self.target_rps,
            "duration_s": self.duration,
            "sent": self.sent,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "elapsed_s": round(self.elapsed, 3),
            "achieved_rps": round(self.achieved_rps, 2),
            "error_rate": self.error_rate,
            "p50_s": percentile(self.latencies, 0.5),
            "p95_s": self.p95,
            "max_s": max(self.latencies, default=None),
        }


def failure_kind(exc: BaseException) -> str:
    """How a request failed without an HTTP answer, as its ``statuses`` key (``connection refused``...)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return "invalid HTTP answer"
    return "connection failed"


def failures_text(report: LoadReport) -> str:
    """``10 failed (8 connection refused, 2 HTTP 503)``: the failures by kind, most frequent first."""
    kinds = sorted(((n, k) for k, n in report.statuses.items() if not k.startswith("2")), reverse=True)
    shown = ", ".join(f"{n} {'HTTP ' + k if k.isdigit() else k}" for n, k in kinds)
    return f"{report.failed} failed" + (f" ({shown})" if shown else "")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile with linear interpolation (NumPy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Thresholds:
    p95_max: float
    error_rate_max: float
    min_rate_ratio: float = 0.9


def judge(report: LoadReport, limits: Thresholds) -> list[tuple[str, float | None, float, bool]]:
    """Each check as (name, measured value, limit, held): p95 latency, error rate, rate reached."""
    p95, errors = report.p95, report.error_rate
    reached = report.achieved_rps / report.target_rps if report.target_rps else 0.0
    return [
        ("latency-p95", p95, limits.p95_max, p95 is not None and p95 <= limits.p95_max),
        ("error-rate", errors, limits.error_rate_max, errors is not None and errors <= limits.error_rate_max),
        ("rate-reached", round(reached, 3), limits.min_rate_ratio, reached >= limits.min_rate_ratio),
    ]


def run_load(
    base_url: str,
    *,
    rps: float,
    duration: float,
    connections: int = 4,
    paths: Sequence[str] = DEFAULT_PATHS,
    timeout: float = 5.0,
) -> LoadReport:
    """Send the paced load and measure it (see the module docstring)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url {base_url!r}: expected http(s)://host[:port]")
    if rps <= 0 or duration <= 0 or connections < 1:
        raise UsageError("--rps and --duration must be above 0, --connections at least 1")
    total = max(1, int(rps * duration))
    report = LoadReport(base_url, rps, duration)
    lock = threading.Lock()
    prefix = parts.path.rstrip("/")
    started = time.monotonic()
    deadline = started + duration + timeout

    def worker(index: int) -> None:
        conn: http.client.HTTPConnection | None = None
        k = index
        while k < total:
            due = started + k / rps
            now = time.monotonic()
            if now >= deadline:
                break
            if due > now:
                time.sleep(due - now)
            path = prefix + paths[k % len(paths)]
            begin = time.monotonic()
            status = "error"
            try:
                if conn is None:
                    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
                    conn = cls(parts.hostname or "", parts.port, timeout=timeout)
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                status = failure_kind(exc)
                if conn is not None:
                    conn.close()
                conn = None
            took = time.monotonic() - begin
            with lock:
                report.sent += 1
                report.statuses[status] = report.statuses.get(status, 0) + 1
                if not status.startswith("2"):
                    report.failed += 1
                report.latencies.append(took)
            k += connections
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + timeout + 5)
    report.elapsed = max(time.monotonic() - started, duration if report.sent >= total else 0.0)
    return report
