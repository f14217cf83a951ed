"""Backups against the real things: MariaDB (dumped while written to), a moto S3 server, a scratch MariaDB for
verify --restore, a tmpfs that fills up, and a create killed with SIGKILL. Every fault is an exit code the
README documents, and no secret ever shows up in output, the store or the ledger."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.support.backup_db import BackupDB
from tests.support.s3 import S3Endpoint

pytestmark = pytest.mark.integration

BACKUP_KEY = "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMzI="  # base64 of 32 bytes
S3_ENV = {"T_S3_ACCESS": "coursectl-test-access-key", "T_S3_SECRET": "coursectl-test-secret-key-0123456789"}

CONFIG = """\
project: demo
services: {{user: {{path: platform-services/user, port: 8001}}}}
registry: {{url: 127.0.0.1:5000}}
environments: {{local: {{target: docker}}}}
backups:
  key: {{env: T_BACKUP_KEY}}
  chunk_size: 256KiB
  stores:
    s3: {{type: s3, bucket: {bucket}, prefix: course, endpoint_url: "{endpoint}", part_size: 5MiB, timeout: 5,
          access_key_id: {{env: T_S3_ACCESS}}, secret_access_key: {{env: T_S3_SECRET}}}}
    disk: {{type: local, path: {disk}}}
  sources:
    db: {{type: mariadb, store: {store}, host: 127.0.0.1, port: {port}, user: backup, password: {{env: T_DB_PASSWORD}},
         databases: [{databases}]}}
"""

Run = Callable[..., tuple[int, str, str]]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class World:
    def __init__(self, tmp: Path, db: BackupDB, s3: S3Endpoint, bucket: str):
        self.tmp, self.db, self.s3, self.bucket = tmp, db, s3, bucket
        self.disk = tmp / "disk"
        self.disk.mkdir()
        self.state = tmp / "state"
        self.config = tmp / "coursectl.yaml"
        self.env = {**os.environ, **S3_ENV, "T_BACKUP_KEY": BACKUP_KEY, "T_DB_PASSWORD": db.password,
                    "COURSECTL_STATE_DIR": str(self.state), "COURSECTL_CONFIG": str(self.config),
                    "COURSECTL_ACTOR": "integration"}
        self.outputs: list[str] = []

    def configure(self, databases: list[str], *, store: str = "s3", endpoint: str | None = None,
                  bucket: str | None = None, disk: Path | None = None) -> None:
        self.config.write_text(CONFIG.format(bucket=bucket or self.bucket, endpoint=endpoint or self.s3.url,
                                             disk=disk or self.disk, store=store, port=self.db.port,
                                             databases=", ".join(databases)))

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "coursectl", *args]

    def run(self, *args: str, timeout: float = 300) -> tuple[int, str, str]:
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env, cwd=REPO,
                              timeout=timeout)
        self.outputs += [done.stdout, done.stderr]
        return done.returncode, done.stdout, done.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self.run(*args, "-o", "json")
        assert code == 0, err
        return json.loads(out)

    def query(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        conn = self.db.admin()
        try:
            with conn.cursor() as cur:
                if database:
                    cur.execute(f"USE `{database}`")
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def everything_written(self) -> bytes:
        """Every byte that left coursectl: outputs, the S3 objects, the local store, the ledger."""
        blobs = [o.encode() for o in self.outputs]
        client = self.s3.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for obj in page.get("Contents", []):
                blobs.append(client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read())
        blobs += [p.read_bytes() for p in self.disk.rglob("*") if p.is_file()]
        blobs += [p.read_bytes() for p in self.state.glob("ledger.db*") if p.is_file()]
        return b"\n".join(blobs)


@pytest.fixture
def world(tmp_path: Path, backup_db: BackupDB, s3_server: S3Endpoint, s3_bucket: Callable[[], str]) -> World:
    return World(tmp_path, backup_db, s3_server, s3_bucket())


def test_mariadb_to_s3_verified_by_a_restore_and_restored(world: World) -> None:
    name = world.db.make_database(rows=2000)
    world.configure([name])
    created = world.json("-vv", "backup", "create")["backups"][0]  # debug logs too must not show a secret
    assert created["ok"] and created["parts"][0]["name"] == f"db/{name}.sql"
    logs = [json.loads(line) for line in world.outputs[-1].splitlines()]  # -o json: stderr is JSON lines
    assert any(line["type"] == "log" and line["level"] in ("debug", "info") for line in logs)

    result = world.json("backup", "verify", "--latest", "--restore")["results"][0]
    assert result["ok"] and result["restored"] and result["restore_seconds"] > 0, result
    assert any("3 tables: row counts, 3 CHECKSUM TABLE values" in c for c in result["checked"])
    listed = world.json("backup", "list")["backups"][0]
    assert listed["status"] == "verified" and listed["last_restore_seconds"] is not None

    copy = f"{name}_copy"
    restored = world.json("backup", "restore", created["backup_id"], "--to", copy, "--yes")
    assert restored["ok"] and restored["problems"] == []
    for table in ("courses", "enrolments", "audit"):
        assert world.query(f"CHECKSUM TABLE `{copy}`.`{table}`")[0][1] == \
            world.query(f"CHECKSUM TABLE `{name}`.`{table}`")[0][1]
    assert world.query("SELECT price_with_tax(100)", copy)[0][0] == 119
    assert world.query(f"SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{copy}'")[0][0] == 1
    assert world.query(f"SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '{copy}'")[0][0] == 1

    code, _, err = world.run("backup", "restore", created["backup_id"], "--to", copy, "--yes")
    assert code == 4 and "is not empty" in err and "--force" in err
    code, _, err = world.run("backup", "restore", created["backup_id"], "--to", copy, "--yes", "--force")
    assert code == 0, err

    written = world.everything_written()
    for secret in (BACKUP_KEY, world.db.password, S3_ENV["T_S3_SECRET"]):
        assert secret.encode() not in written, f"a secret leaked: {secret[:4]}..."
    assert b"Kurs 1" not in written  # the data itself is only ever stored encrypted


def test_the_recorded_figures_match_the_dump_while_the_database_is_written(world: World) -> None:
    name = world.db.make_database(rows=20_000)
    world.configure([name])
    stop = threading.Event()
    inserted = [0]

    def write() -> None:
        conn = world.db.admin()
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute(f"INSERT INTO `{name}`.enrolments (course_id, student, at) VALUES (1, 'w', NOW(6))")
                conn.commit()
                inserted[0] += 1
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.3)
        created = world.json("backup", "create")["backups"][0]
    finally:
        stop.set()
        writer.join()
    assert created["ok"] and inserted[0] > 10
    result = world.json("backup", "verify", "--latest", "--restore")["results"][0]
    assert result["ok"], result["problems"]


def test_a_database_that_does_not_exist_is_exit_4_naming_it(world: World) -> None:
    world.configure(["no_such_db_4711"])
    code, out, err = world.run("backup", "create")
    assert code == 4 and "'no_such_db_4711' does not exist" in err
    assert world.json("backup", "list") == {"backups": [], "incomplete": []}


def test_s3_unreachable_is_exit_5_and_nothing_is_listed(world: World) -> None:
    name = world.db.make_database(rows=10)
    world.configure([name], endpoint=f"http://127.0.0.1:{_closed_port()}")
    code, out, err = world.run("backup", "create")
    assert code == 5 and "unreachable" in err
    code, out, err = world.run("backup", "list")
    assert code == 5 and out == "" and "unreachable" in err


def test_a_missing_bucket_is_exit_4(world: World) -> None:
    name = world.db.make_database(rows=10)
    world.configure([name], bucket="there-is-no-such-bucket")
    code, out, err = world.run("backup", "create")
    assert code == 4 and "bucket there-is-no-such-bucket does not exist" in err


def test_kill_9_during_create_leaves_nothing_good_and_the_next_create_works(world: World) -> None:
    name = world.db.make_database(rows=200)
    world.query(f"INSERT INTO `{name}`.enrolments (course_id, student, at) SELECT a.course_id, REPEAT(MD5(RAND()), 3),"
                f" NOW(6) FROM `{name}`.enrolments a, `{name}`.enrolments b LIMIT 150000")
    world.configure([name], store="disk")
    proc = subprocess.Popen(world.argv("backup", "create"), env=world.env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".partial-") and p.stat().st_size > 0 for p in world.disk.rglob("*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "create never started writing"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    listing = world.json("backup", "list")
    assert listing["backups"] == [] and listing["incomplete"], listing
    code, out, err = world.run("backup", "create")
    assert code == 0, err
    listing = world.json("backup", "list")
    assert len(listing["backups"]) == 1 and listing["incomplete"]
    assert world.json("backup", "verify", "--latest")["results"][0]["ok"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a real 'no space left on device' (needs root, as CI runs)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test (run as root): {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_is_a_clear_error_and_no_good_looking_partial(world: World, small_disk: Path) -> None:
    name = world.db.make_database(rows=100)
    world.query(f"INSERT INTO `{name}`.enrolments (course_id, student, at) SELECT 1, SHA2(RAND(), 256), NOW(6)"
                f" FROM `{name}`.enrolments a, `{name}`.enrolments b, `{name}`.enrolments c LIMIT 200000")
    world.configure([name], store="disk", disk=small_disk)
    code, out, err = world.run("backup", "create")
    assert code == 5 and "no space left on the device" in err, err
    assert world.json("backup", "list") == {"backups": [], "incomplete": []}
    assert not [p for p in small_disk.rglob("*") if p.is_file()]  # the parts written are removed again
