"""Canary analysis on real traffic: a good canary's promotion under load, and how fast a bad one is taken back.

Local slot processes (the stand-in service, which counts its health checks and scrapes like the platform's
services do) behind a real HAProxy edge, a real Prometheus scraping every second, the CLI in subprocesses.

Prints, for a good canary, failed/total requests at the edge during its promotion; and for a bad canary
(``FAULT_ERROR_RATE``) at 10 and at 100 requests/s through the edge, the median time from its first weighted
traffic to traffic back on stable (the abort's "weight 0" step, from the ledger), in seconds and analysis
intervals, over ``--trials`` runs each, with the exit codes and the edge failures.

    python benchmarks/bench_canary.py [--interval 3] [--error-rate 0.3] [--trials 3] [--rates 10,100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import report

from coursectl.testing.drill import Drill, free_port, seconds_to_stable
from coursectl.testing.load import LoadGenerator
from coursectl.testing.prom import LocalPrometheus

CONNECTIONS = 4


def _load(d: Drill, rate: float) -> LoadGenerator:
    return LoadGenerator(d.url, connections=CONNECTIONS, rate_per_conn=rate / CONNECTIONS).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--error-rate", default="0.3")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--rates", default="10,100", help="requests per second through the edge, comma-separated")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="coursectl-bench-") as tmp:
        prom = LocalPrometheus(Path(tmp) / "prom", free_port()).start()
        d = Drill(
            Path(tmp), prom_url=prom.url, file_sd=prom.file_sd, interval=args.interval, pause=3 * args.interval
        )
        try:
            assert d.run("deploy", "course", "--env", "canary", "--version", "v1").returncode == 0
            load = _load(d, 100)
            began = time.monotonic()
            r = d.run("deploy", "course", "--env", "canary", "--version", "v2")
            took = time.monotonic() - began
            good = load.stop()
            report("good canary promotion at 100 req/s", exit=r.returncode, failed=good.failed, total=good.total,
                   seconds=f"{took:.1f}")  # fmt: skip
            for rate in rates:
                figures: list[float] = []
                codes: list[int] = []
                edge_failed = 0
                last = ""
                for trial in range(args.trials):
                    load = _load(d, rate)
                    time.sleep(2 * args.interval)  # the stable slot has a steady rate before the canary starts
                    r = d.run("deploy", "course", "--env", "canary", "--version", f"bad{trial}",
                              "--set-env", f"FAULT_ERROR_RATE={args.error_rate}")  # fmt: skip
                    result = load.stop()
                    codes.append(r.returncode)
                    edge_failed += sum(n for s, n in result.statuses.items() if s.startswith("error"))
                    seconds = seconds_to_stable(d.state, "canary", "course")
                    if seconds is not None:
                        figures.append(seconds)
                    last = r.stderr.strip().splitlines()[-2] if r.stderr.strip() else ""
                median = statistics.median(figures) if figures else float("nan")
                report(
                    f"bad canary at {rate:g} req/s",
                    median_seconds_to_stable=f"{median:.1f}",
                    median_intervals=f"{median / args.interval:.2f}",
                    each=",".join(f"{s:.1f}" for s in figures),
                    exits=",".join(map(str, codes)),
                    edge_failed=edge_failed,
                )
                print(f"  last exit message: {last}", flush=True)
        finally:
            d.cleanup()
            prom.stop()


if __name__ == "__main__":
    main()
