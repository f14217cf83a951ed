"""Canary promotion under load, and a bad canary (FAULT_ERROR_RATE) with a real Prometheus.

Prints failed/total requests during a good canary's promotion (a failed request is one the *edge* failed:
errors the canary itself returns are what analysis is for, so the good canary has none), and for the bad
canary the time from its first weighted response to traffic back on stable, in seconds and analysis intervals.

    python benchmarks/bench_canary.py [--interval 3] [--error-rate 0.3]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

from _common import report

from coursectl.testing.drill import Drill
from coursectl.testing.load import LoadGenerator
from coursectl.testing.prom import LocalPrometheus


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--error-rate", default="0.3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coursectl-bench-") as tmp:
        prom = LocalPrometheus(Path(tmp) / "prom", _port()).start()
        d = Drill(
            Path(tmp), prom_url=prom.url, file_sd=prom.file_sd, interval=args.interval, pause=3 * args.interval
        )
        try:
            assert d.run("deploy", "course", "--env", "canary", "--version", "v1").returncode == 0
            load = LoadGenerator(d.url, connections=8, rate_per_conn=100).start()
            began = time.monotonic()
            r = d.run("deploy", "course", "--env", "canary", "--version", "v2")
            took = time.monotonic() - began
            good = load.stop()
            report(
                "good canary promotion",
                exit=r.returncode,
                failed=good.failed,
                total=good.total,
                seconds=f"{took:.1f}",
            )
            load = LoadGenerator(d.url, connections=8, rate_per_conn=100).start()
            r = d.run(
                "deploy",
                "course",
                "--env",
                "canary",
                "--version",
                "v3",
                "--set-env",
                f"FAULT_ERROR_RATE={args.error_rate}",
            )
            time.sleep(1)
            bad = load.stop()
            served = bad.last_seen["v3"] - bad.first_seen["v3"]
            edge_failed = sum(n for s, n in bad.statuses.items() if s.startswith("error"))
            report(
                "bad canary",
                exit=r.returncode,
                time_to_stable_seconds=f"{served:.1f}",
                analysis_intervals=f"{served / args.interval:.2f}",
                canary_responses=bad.versions["v3"],
                status_500_from_canary=bad.statuses.get("500", 0),
                edge_failed=edge_failed,
                total=bad.total,
            )
            print(r.stderr.strip().splitlines()[-2] if r.stderr.strip() else "", flush=True)
        finally:
            d.cleanup()
            prom.stop()


if __name__ == "__main__":
    main()
