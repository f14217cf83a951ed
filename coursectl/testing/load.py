"""A bounded load generator for drills: threads with keep-alive http.client connections, loopback only.

From a shell (rollout drills: analysis judges user traffic only, so a canary needs some)::

    python -m coursectl.testing.load http://127.0.0.1:8081/api/course/courses --rate 60 --seconds 300

sends about 60 requests per second for 5 minutes (Ctrl-C stops it early) and prints what it got.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    total: int = 0
    failed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, float] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    failures_at: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "total": self.total,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "versions": dict(self.versions),
        }
        if self.failures_at:
            out["failures_between_s"] = [
                round(self.failures_at[0] - self.started, 2),
                round(self.failures_at[-1] - self.started, 2),
            ]
        return out


class LoadGenerator:
    """``connections`` threads GETting ``url`` until stopped or ``max_requests`` (a hard bound) is reached.

    A request fails when it raises or answers anything but 2xx. Bodies that carry ``"version": "..."`` are
    counted per version, with the monotonic time each version was first and last seen.
    """

    def __init__(self, url: str, *, connections: int = 8, max_requests: int = 200_000, rate_per_conn: float = 0.0):
        parts = urlsplit(url)
        if not (parts.hostname or "").startswith("127."):
            raise ValueError("the load generator only sends to 127.0.0.0/8")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path or "/"
        self.connections = connections
        self.max_requests = max_requests
        self.pause = 1.0 / rate_per_conn if rate_per_conn else 0.0
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _worker(self) -> None:
        conn: http.client.HTTPConnection | None = None
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                if self.result.total >= self.max_requests:
                    return
            status = "error"
            version = None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                status = str(resp.status)
                if b'"version"' in body:
                    version = (
                        body.split(b'"version": "', 1)[-1].split(b'"', 1)[0].decode()
                        if b'"version": "' in body
                        else body.split(b'"version":"', 1)[-1].split(b'"', 1)[0].decode()
                    )
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                status = f"error:{type(exc).__name__}"
                if conn is not None:
                    conn.close()
                conn = None
            now = time.monotonic()
            with self._lock:
                self.result.total += 1
                self.result.statuses[status] += 1
                if not status.startswith("2"):
                    self.result.failed += 1
                    if len(self.result.failures_at) < 10_000:
                        self.result.failures_at.append(now)
                if version:
                    self.result.versions[version] += 1
                    self.result.first_seen.setdefault(version, now)
                    self.result.last_seen[version] = now
            if self.pause:  # paced on a schedule, so slow answers do not lower the rate
                next_at += self.pause
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                elif delay < -1.0:  # far behind (a stall): do not burst to catch up
                    next_at = time.monotonic()
        if conn is not None:
            conn.close()

    def start(self) -> LoadGenerator:
        for _ in range(self.connections):
            thread = threading.Thread(target=self._worker, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        return self.result

    def wait_total(self, at_least: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.result.total < at_least:
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """``python -m coursectl.testing.load URL [--rate N] [--seconds S] [--connections C]``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m coursectl.testing.load", description=main.__doc__)
    parser.add_argument("url", help="a 127.0.0.0/8 URL, e.g. the edge's http://127.0.0.1:8081/api/course/courses")
    parser.add_argument("--rate", type=float, default=60.0, help="requests per second in all (default 60)")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long (default 300)")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections (default 4)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.connections < 1:
        parser.error("--rate, --seconds and --connections must be positive")
    try:
        load = LoadGenerator(
            args.url,
            connections=args.connections,
            rate_per_conn=args.rate / args.connections,
            max_requests=int(args.rate * args.seconds) + args.connections,
        ).start()
    except ValueError as exc:
        parser.error(str(exc))
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and load.result.total < load.max_requests:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    result = load.stop()
    print(json.dumps(result.to_dict(), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
