"""`coursectl backup create` against the plain pipeline `mariadb-dump | gzip | openssl enc -aes-256-cbc`, on the
same MariaDB database (about 1 GB of dump, made here), in the same run; then `verify --restore`.

Prints, per round and as medians: throughput (MB of dump per second) of both, the stored size of both, the peak
RSS of `backup create` (the largest process of its tree, from wait4), and the time of `verify --restore` (restore
into a scratch MariaDB and compare row counts and CHECKSUM TABLE). A second, smaller database shows that the
peak RSS does not grow with the size of the database. Loopback only: the server listens on a unix socket.

    python benchmarks/backup.py [--size-mb 1000] [--small-mb 100] [--rounds 3] [--verify-rounds 1]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, report

from coursectl.adapters.mariadb_scratch import scratch_mariadb


def sql(sock: str, statement: str, database: str | None = None) -> None:
    import pymysql

    conn = pymysql.connect(unix_socket=sock, user="root", password="", database=database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def make_database(sock: str, name: str, size_mb: int) -> int:
    """A database whose dump is about ``size_mb`` MB: enrolment-like rows with text that compresses like real
    data (about 3:1), built by doubling. Returns the number of rows."""
    import pymysql

    sql(sock, f"CREATE DATABASE {name}")
    sql(sock, "CREATE TABLE events (id BIGINT PRIMARY KEY AUTO_INCREMENT, at DATETIME(6), student VARCHAR(80),"
              " course INT, amount DECIMAL(10,2), note VARCHAR(255), payload VARBINARY(64)) ENGINE=InnoDB", name)
    sql(sock, "INSERT INTO events (at, student, course, amount, note, payload) VALUES (NOW(6), 'seed@example.org',"
              " 1, 9.99, 'seed', UNHEX(MD5('seed')))", name)
    row_bytes = 230  # measured size of one row in the dump
    target = size_mb * 1_000_000 // row_bytes
    rows = 1
    conn = pymysql.connect(unix_socket=sock, user="root", password="", database=name, autocommit=True)
    try:
        with conn.cursor() as cur:
            while rows < target:
                batch = min(rows, target - rows)
                cur.execute(
                    "INSERT INTO events (at, student, course, amount, note, payload) SELECT"
                    " NOW(6) - INTERVAL FLOOR(RAND() * 1000000) SECOND,"
                    " CONCAT('student', FLOOR(RAND() * 100000), '@example.org'), FLOOR(RAND() * 500),"
                    " ROUND(RAND() * 200, 2),"
                    " CONCAT('enrolled via ', ELT(1 + FLOOR(RAND() * 3), 'web', 'app', 'api'), ' after ',"
                    " FLOOR(RAND() * 90), ' days; coupon ', LEFT(MD5(RAND()), 8), ' ', REPEAT('x', FLOOR(RAND() * 60))),"
                    f" UNHEX(SHA2(RAND(), 256)) FROM events LIMIT {batch}")
                rows += batch
    finally:
        conn.close()
    return rows


CONFIG = """\
project: bench
services: {{user: {{path: platform-services/user, port: 8001}}}}
registry: {{url: 127.0.0.1:5000}}
environments: {{local: {{target: docker}}}}
backups:
  key: {{env: BENCH_BACKUP_KEY}}
  stores:
    disk: {{type: local, path: {store}}}
  sources:
    {name}: {{type: mariadb, store: disk, socket: {sock}, user: root, databases: [{database}]}}
"""


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB (largest process of the tree, from wait4) and stdout of a command."""
    began = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
    return seconds, usage.ru_maxrss // 1024, out


def pipeline(sock: str, database: str, out: Path, password: str) -> float:
    """mariadb-dump | gzip | openssl enc -aes-256-cbc, as a shell would run it; returns wall seconds."""
    env = {**os.environ, "BENCH_PASS": password}
    dump = ["mariadb-dump", "--no-defaults", f"--socket={sock}", "--user=root", "--single-transaction", "--quick",
            "--routines", "--triggers", "--events", "--hex-blob", "--no-tablespaces", database]
    began = time.monotonic()
    with open(out, "wb") as sink:
        p1 = subprocess.Popen(dump, stdout=subprocess.PIPE)
        p2 = subprocess.Popen(["gzip", "-c"], stdin=p1.stdout, stdout=subprocess.PIPE)
        p3 = subprocess.Popen(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", "env:BENCH_PASS"],
                              stdin=p2.stdout, stdout=sink, env=env)
        assert p1.stdout and p2.stdout
        p1.stdout.close()
        p2.stdout.close()
        codes = (p3.wait(), p2.wait(), p1.wait())
    if any(codes):
        raise SystemExit(f"pipeline failed: {codes}")
    return time.monotonic() - began


def measure(sock: str, database: str, size_mb: int, rounds: int, verify_rounds: int, work: Path) -> None:
    rows = make_database(sock, database, size_mb)
    store = work / f"store-{database}"
    store.mkdir()
    config = work / f"coursectl-{database}.yaml"
    config.write_text(CONFIG.format(store=store, name=database.replace("_", "-"), sock=sock, database=database))
    env = {**os.environ, "BENCH_BACKUP_KEY": base64.b64encode(os.urandom(32)).decode(),
           "COURSECTL_CONFIG": str(config), "COURSECTL_STATE_DIR": str(work / f"state-{database}"),
           "PYTHONPATH": str(REPO)}
    coursectl = [sys.executable, "-m", "coursectl"]
    ours, theirs, rss, plain, ours_stored, theirs_stored = [], [], [], 0, 0, 0
    for n in range(rounds):
        out = work / "pipeline.sql.gz.enc"
        theirs.append(pipeline(sock, database, out, "bench-password"))
        theirs_stored = out.stat().st_size
        out.unlink()
        seconds, peak, text = run_measured([*coursectl, "backup", "create", "-o", "json"], env)
        import json

        made = json.loads(text)["backups"][0]
        plain, ours_stored = made["plain_size"], made["stored_size"]
        ours.append(seconds)
        rss.append(peak)
        report(f"round {n + 1} ({database})", pipeline_s=f"{theirs[-1]:.2f}", create_s=f"{seconds:.2f}",
               create_peak_rss_mb=peak)
    verify = []
    for _ in range(verify_rounds):
        seconds, _, text = run_measured([*coursectl, "backup", "verify", "--latest", "--restore", "-o", "json"], env)
        import json

        result = json.loads(text)["results"][0]
        assert result["ok"], result
        verify.append((seconds, result["restore_seconds"]))
    mb = plain / 1e6
    report(
        f"backup create vs pipeline ({database}: {rows} rows, {mb:.0f} MB of dump)",
        create_mb_s=f"{mb / statistics.median(ours):.1f}",
        pipeline_mb_s=f"{mb / statistics.median(theirs):.1f}",
        create_median_s=f"{statistics.median(ours):.2f}",
        pipeline_median_s=f"{statistics.median(theirs):.2f}",
        create_stored_mb=f"{ours_stored / 1e6:.1f}",
        pipeline_stored_mb=f"{theirs_stored / 1e6:.1f}",
        create_peak_rss_mb=max(rss),
    )
    if verify:
        report(f"verify --restore ({database})", total_median_s=f"{statistics.median(v[0] for v in verify):.1f}",
               restore_median_s=f"{statistics.median(v[1] for v in verify):.1f}")
    sql(sock, f"DROP DATABASE {database}")
    shutil.rmtree(store, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--small-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verify-rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coursectl-bench-backup-") as tmp, \
            scratch_mariadb(buffer_pool=512 * 1024 * 1024, start_timeout=120) as server:
        work = Path(tmp)
        report("server", version=server.version, cpus=os.cpu_count())
        if args.small_mb:
            measure(server.socket, "bench_small", args.small_mb, args.rounds, 0, work)
        measure(server.socket, "bench_large", args.size_mb, args.rounds, args.verify_rounds, work)


if __name__ == "__main__":
    main()
