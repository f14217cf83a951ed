"""The SQLite ledger: migrations, events, and the deploy lock across processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from coursectl.domain import LedgerEvent, utcnow
from coursectl.errors import LockHeld, PreconditionError
from coursectl.ledger import SqliteLedger
from coursectl.ledger.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
from tests.conftest import REPO


def test_new_ledger_is_at_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    with SqliteLedger(tmp_path / "ledger.db") as ledger:
        conn = ledger._conn
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("start", range(1, SCHEMA_VERSION))
def test_migration_from_an_older_schema_keeps_events(tmp_path: Path, start: int) -> None:
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=start)
    assert schema_version(conn) == start
    conn.execute(
        "INSERT INTO events (ts, kind, actor, service, version, details) VALUES (?, ?, ?, ?, ?, ?)",
        ("2026-01-02T03:04:05.000000Z", "build", "ci", "user", "1.0", '{"outcome": "succeeded"}'),
    )
    conn.close()
    with SqliteLedger(path) as ledger:
        assert schema_version(ledger._conn) == SCHEMA_VERSION
        [event] = ledger.events()
    assert (event.kind, event.service, event.version, event.actor) == ("build", "user", "1.0", "ci")
    assert event.time.year == 2026
    if start == 1:  # version 2 moved the outcome out of the details into its own column
        assert event.outcome == "succeeded"


def test_every_migration_applies_on_an_empty_file(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    assert migrate(conn) == list(range(1, len(MIGRATIONS) + 1))
    assert migrate(conn) == []  # already there


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(PreconditionError, match="newer than this coursectl"):
        SqliteLedger(path)


def test_a_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(PreconditionError, match="cannot be opened"):
        SqliteLedger(path)


def test_events_filters_and_order(tmp_path: Path) -> None:
    with SqliteLedger(tmp_path / "l.db") as ledger:
        t0 = utcnow() - timedelta(hours=1)
        for i, (service, env, kind) in enumerate(
            [("user", "local", "build"), ("user", "prod", "deployment"), ("course", "prod", "deployment")]
        ):
            ledger.record(
                LedgerEvent(kind=kind, actor="me", service=service, environment=env, version=str(i),
                            time=t0 + timedelta(minutes=i), details={"n": i})
            )
        assert [e.version for e in ledger.events()] == ["2", "1", "0"]
        assert [e.version for e in ledger.events(service="user")] == ["1", "0"]
        assert [e.version for e in ledger.events(environment="prod", kinds=["deployment"], limit=1)] == ["2"]
        assert [e.version for e in ledger.events(newest_first=False, since=t0 + timedelta(minutes=1))] == ["1", "2"]
        assert ledger.events(service="course")[0].details == {"n": 2}


def test_second_holder_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    with SqliteLedger(tmp_path / "l.db") as ledger:
        ledger.acquire_lock("prod", "user", holder="alice@ci", reason="release 1.2")
        started = time.monotonic()
        with pytest.raises(LockHeld) as info:
            ledger.acquire_lock("prod", "user", holder="bob@laptop", reason="hotfix")
        assert time.monotonic() - started < 1
        assert info.value.exit_code == 8
        assert "alice@ci" in info.value.message and "release 1.2" in info.value.message
        # other services and environments are independent
        ledger.acquire_lock("prod", "course", holder="bob@laptop", reason="x")
        ledger.acquire_lock("local", "user", holder="bob@laptop", reason="x")


def test_expired_lock_is_taken_over_and_recorded(tmp_path: Path) -> None:
    with SqliteLedger(tmp_path / "l.db") as ledger:
        ledger.acquire_lock("prod", "user", holder="crashed-job", reason="deploy", ttl=0)
        mine = ledger.acquire_lock("prod", "user", holder="me", reason="deploy again")
        assert mine.holder == "me"
        takeover = ledger.events(kinds=["lock.takeover"])[0]
        assert takeover.details["previous"]["holder"] == "crashed-job"
        assert takeover.details["previous_expired"] is True


def test_heartbeat_extends_and_release_is_only_by_the_holder(tmp_path: Path) -> None:
    with SqliteLedger(tmp_path / "l.db") as ledger:
        lock = ledger.acquire_lock("prod", "user", holder="me", reason="r", ttl=1)
        refreshed = ledger.refresh_lock(lock, ttl=600)
        assert refreshed.expires_at > lock.expires_at
        thief = ledger.acquire_lock("prod", "user", holder="oncall", reason="rollback", take_over=True)
        with pytest.raises(LockHeld, match="taken over by oncall"):
            ledger.refresh_lock(refreshed)
        assert ledger.release_lock(refreshed) is False
        assert ledger.release_lock(thief) is True
        assert ledger.lock_info("prod", "user") is None


def test_lock_wait_gets_the_lock_when_released(tmp_path: Path) -> None:
    with SqliteLedger(tmp_path / "l.db") as ledger:
        ledger.acquire_lock("prod", "user", holder="short", reason="r", ttl=0.5)
        got = ledger.acquire_lock("prod", "user", holder="patient", reason="r", wait=5, poll=0.05)
        assert got.holder == "patient"


HOLDER = """
import sys, time
from pathlib import Path
from coursectl.ledger import SqliteLedger
from coursectl.errors import LockHeld
ledger = SqliteLedger(Path(sys.argv[1]))
try:
    ledger.acquire_lock("prod", "user", holder=sys.argv[2], reason="from a process", ttl=60)
except LockHeld as exc:
    print("HELD", exc.message, flush=True)
    sys.exit(exc.exit_code)
print("GOT", flush=True)
sys.stdin.readline()
"""


def test_lock_contention_between_two_processes(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    env = {"PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), "proc-one"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    ) as first:
        assert first.stdin is not None and first.stdout is not None
        try:
            assert first.stdout.readline().strip() == "GOT"
            second = subprocess.run(
                [sys.executable, "-c", HOLDER, str(db), "proc-two"],
                input="\n", capture_output=True, text=True, env=env, timeout=60,
            )
            assert second.returncode == 8
            assert "HELD" in second.stdout and "proc-one" in second.stdout
        finally:
            first.stdin.write("\n")
            first.stdin.flush()
            first.wait(timeout=30)
