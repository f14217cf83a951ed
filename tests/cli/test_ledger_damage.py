"""A damaged, emptied, foreign or read-only ledger, and a state directory that is a file: every command says
what is wrong and where (exit 4 or 5), never exit 1, never a silent new ledger; `ledger check` and `ledger init`."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from coursectl.domain import LedgerEvent
from coursectl.ledger import open_ledger
from tests.conftest import REPO

Cli = Callable[..., tuple[int, str, str]]


def _seed(state_dir: Path, events: int = 300) -> Path:
    """A ledger with a held lock and ``events`` events, checkpointed into the main file."""
    with open_ledger(state_dir) as ledger:
        ledger.acquire_lock("local", "user", holder="alice", reason="maintenance", ttl=3600)
        for i in range(events):
            ledger.record(LedgerEvent(kind="build", actor="ci", service="user", version=f"v{i}",
                                      details={"log": "x" * 300}))
    path = state_dir / "ledger.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def _fails(cli: Cli, code: int, *args: str) -> dict:  # type: ignore[type-arg]
    rc, out, err = cli(*args, "-o", "json")
    assert rc == code, (args, rc, out, err)
    error = json.loads(err.splitlines()[-1])["error"]
    assert error["exit_code"] == code and "internal" not in error["type"]
    return error  # type: ignore[no-any-return]


def test_an_emptied_ledger_is_refused_until_initialised(cli: Cli, state_dir: Path, config_file: Path) -> None:
    path = _seed(state_dir, events=3)
    path.write_bytes(b"")
    for args in (("history",), ("lock", "list"), ("-c", str(config_file), "lock", "acquire", "user")):
        error = _fails(cli, 4, *args)
        assert str(path) in error["message"] and "no schema" in error["message"] and "0 bytes" in error["message"]
        assert "coursectl ledger init" in error["hint"]
    assert path.stat().st_size == 0  # nothing was written into it
    code, out, err = cli("ledger", "init", "-o", "json")
    assert code == 0 and json.loads(out)["result"] == "initialised", err
    code, out, _ = cli("lock", "list", "-o", "json")
    assert code == 0 and json.loads(out)["locks"] == []
    code, out, _ = cli("ledger", "init", "-o", "json")
    assert code == 0 and json.loads(out)["result"] == "already initialised"


def test_another_programs_database_is_refused_even_by_init(cli: Cli, state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    conn = sqlite3.connect(state_dir / "ledger.db")
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    for args in (("history",), ("ledger", "init")):
        assert "is not a coursectl ledger" in _fails(cli, 4, *args)["message"]


def test_a_state_directory_that_is_a_file(cli: Cli, state_dir: Path, config_file: Path) -> None:
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    state_dir.write_text("not a folder")
    for args in (("history",), ("ledger", "check"), ("-c", str(config_file), "lock", "acquire", "user"),
                 ("-c", str(config_file), "config", "show")):
        error = _fails(cli, 4, *args)
        assert f"{state_dir} is not a directory" in error["message"]


def test_damaged_pages_are_exit_4_with_the_path_and_ledger_check_lists_them(cli: Cli, state_dir: Path) -> None:
    path = _seed(state_dir)
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 4, len(data) - 4096, 4096 * 3):  # scribble over the middle of some pages
        data[offset + 200 : offset + 1200] = bytes(range(250)) * 4
    path.write_bytes(bytes(data))
    error = _fails(cli, 4, "history", "-n", "1000")
    assert f"the ledger at {path} is damaged" in error["message"] and "ledger check" in error["hint"]
    code, out, err = cli("ledger", "check", "-o", "json")
    assert code == 4
    report = json.loads(out)
    assert report["ok"] is False and report["problems"] and report["path"] == str(path)
    assert json.loads(err)["error"]["details"]["problems"] == report["problems"]


def test_a_ledger_scribbled_over_entirely_is_refused_by_every_command(cli: Cli, state_dir: Path,
                                                                      config_file: Path) -> None:
    path = _seed(state_dir, events=20)
    data = bytearray(path.read_bytes())
    data[100:] = bytes(len(data) - 100)  # the header survives, every page is zeroed
    path.write_bytes(bytes(data))
    for args in (("history",), ("lock", "list"), ("-c", str(config_file), "lock", "acquire", "course")):
        error = _fails(cli, 4, *args)
        assert str(path) in error["message"]


def test_ledger_check_of_a_sound_ledger(cli: Cli, state_dir: Path) -> None:
    _seed(state_dir, events=5)
    code, out, err = cli("ledger", "check")
    assert code == 0 and "integrity check passed" in out and "6 events" in out, err


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` and its files unwritable even for root: immutable attributes (ext4 and friends)."""
    files = [folder, *folder.iterdir()]
    done = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot make {folder} read-only here (chattr: {done.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


@pytest.mark.skipif(shutil.which("chattr") is None, reason="chattr (e2fsprogs) missing")
def test_a_read_only_ledger_is_read_but_never_written(cli: Cli, state_dir: Path, config_file: Path) -> None:
    path = _seed(state_dir, events=2)
    with _read_only(state_dir):
        code, out, err = cli("history", "-o", "json")
        assert code == 0 and len(json.loads(out)["events"]) == 3, err
        error = _fails(cli, 4, "-c", str(config_file), "lock", "acquire", "course")
        assert f"the ledger at {path} is read-only" in error["message"]
        code, _, err = cli("ledger", "check")
        assert code == 0, err


def test_many_processes_creating_the_ledger_at_once_all_succeed(tmp_path: Path) -> None:
    env = {**os.environ, "COURSECTL_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "coursectl", "lock", "list"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    for p in procs:
        p.stdout.close()  # type: ignore[union-attr]
        p.stderr.close()  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0] * 6, results
    assert sorted(p.name for p in (tmp_path / "state").iterdir() if not p.name.startswith("ledger.db")) == []
