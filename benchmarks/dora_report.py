"""Benchmark: the DORA report over 100,000 deployments and 1,000,000 commits in a SQLite ledger.

    PYTHONPATH=. python benchmarks/dora_report.py [--deployments 100000] [--commits-per-deployment 10] [--runs 7]

Synthetic history (fixed seed) is written straight into a temporary ledger with executemany: 20 services in
prod over 30 days, ~90 % succeeded, 5 % failed, 3 % rolled back, 2 % hotfixes, a rollback record for 1 %,
every deployment listing its commits. The report window covers all of it. Prints the median wall time of
``coursectl.api.metrics.dora_report`` (ledger reads + computation, no git) and of the JSON rendering.
"""

from __future__ import annotations

import argparse
import os
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coursectl.api.metrics import dora_report  # noqa: E402
from coursectl.cli._output import dumps  # noqa: E402
from coursectl.dora.model import Window  # noqa: E402
from coursectl.ledger import SqliteLedger  # noqa: E402
from coursectl.ledger.sqlite import pack_times  # noqa: E402

START = datetime(2026, 10, 1, tzinfo=UTC)
SPAN = 30 * 86400


def _ts(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate(ledger: SqliteLedger, deployments: int, per_deployment: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    base = START.timestamp()
    conn = ledger._conn  # the benchmark writes in bulk, bypassing record() on purpose
    events, commits, projection = [], [], []
    finished = sorted(base + rng.random() * SPAN for _ in range(deployments))
    for i, fin in enumerate(finished, start=1):
        r = rng.random()
        status = "succeeded" if r < 0.92 else "failed" if r < 0.97 else "rolled_back"
        hotfix = rng.random() < 0.02
        service = f"svc-{i % 20:02d}"
        details = {"started_at": _ts(fin - 240)[:-4] + "Z", "finished_at": _ts(fin)[:-4] + "Z", "status": status,
                   "hotfix": hotfix, "commit_count": per_deployment, "source": "benchmark"}
        events.append((i, _ts(fin), "deployment", "bench", "prod", service, f"1.0.{i}", f"{i:040x}", status,
                       json.dumps(details)))
        times = sorted(fin - rng.random() * 2 * 86400 for _ in range(per_deployment))
        commits.extend((i, f"{i:032x}{j:08x}", t) for j, t in enumerate(times))
        projection.append((i, "prod", service, f"1.0.{i}", f"{i:040x}", status, fin, int(hotfix), pack_times(times)))
    rollbacks = []
    next_id = deployments + 1
    for i in rng.sample(range(1, deployments + 1), deployments // 100):
        fin = finished[i - 1] + 300
        details = {"from_version": f"1.0.{i}", "to_version": f"1.0.{i - 1}", "status": "succeeded",
                   "started_at": _ts(fin - 60), "finished_at": _ts(fin)}
        rollbacks.append((next_id, _ts(fin), "rollback", "bench", "prod", f"svc-{i % 20:02d}", f"1.0.{i - 1}", None,
                          "succeeded", json.dumps(details)))
        next_id += 1
    sql = ("INSERT INTO events (id, ts, kind, actor, environment, service, version, git_commit, outcome, details)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    conn.execute("BEGIN")
    conn.executemany(sql, events)
    conn.executemany(sql, rollbacks)
    conn.executemany("INSERT INTO deployment_commits (event_id, sha, committed_at) VALUES (?, ?, ?)", commits)
    conn.executemany("INSERT INTO dora_deployments (event_id, environment, service, version, git_commit, status,"
                     " finished_at, hotfix, commit_times) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", projection)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    return len(commits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--commits-per-deployment", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SqliteLedger(Path(tmp) / "ledger.db")
        t0 = time.perf_counter()
        n_commits = generate(ledger, args.deployments, args.commits_per_deployment)
        print(f"generated {args.deployments:,} deployments and {n_commits:,} commits in {time.perf_counter() - t0:.1f} s")
        tz = ZoneInfo("Europe/Berlin")
        window = Window(START.astimezone(tz), (START + timedelta(days=30)).astimezone(tz), tz)
        report_times, cpu_times, render_times = [], [], []
        report = {}
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            report = dora_report(ledger, window, environment="prod", git=None)
            report_times.append(time.perf_counter() - t)
            cpu_times.append(time.process_time() - c)
            t = time.perf_counter()
            dumps(report)
            render_times.append(time.perf_counter() - t)
        ledger.close()
    print(f"window deployments: {report['change_failure_rate']['deployments']:,}, "
          f"lead-time commits: {report['lead_time']['commits']:,}, "
          f"change failure rate: {report['change_failure_rate']['rate']:.4f}")
    print(f"dora report: median {statistics.median(report_times):.3f} s over {args.runs} runs "
          f"(min {min(report_times):.3f} s, max {max(report_times):.3f} s)")
    print(f"  (CPU time of this process: median {statistics.median(cpu_times):.3f} s; wall time is higher when"
          f" the machine is busy: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"JSON rendering: median {statistics.median(render_times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
