"""The BackupSource contract, run against the fake and every real source: the ledger, the docker target's data
folders, a JENKINS_HOME, a remote Jenkins (replaying the real jenkins-rest samples) and MariaDB (a real server).

A source checks before anything is written, dumps parts with distinct names, records facts, and a restore of
its own dump into a scratch place shows exactly those facts again; a restore into a non-empty target is refused
without force.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coursectl.adapters.backup_jenkins_home import JenkinsHomeSource
from coursectl.adapters.backup_jenkins_remote import JenkinsRemoteSource
from coursectl.adapters.backup_mariadb import MariaDBSource
from coursectl.adapters.backup_sqlite import DataFolderSource, LedgerSource
from coursectl.adapters.mariadb_scratch import scratch_mariadb
from coursectl.backup.compare import compare
from coursectl.backup.keys import parse_key
from coursectl.domain import LedgerEvent, RestoreRequest
from coursectl.errors import ExternalError, PreconditionError
from coursectl.ledger import SqliteLedger
from coursectl.ports import BackupSource
from coursectl.testing.backup import StaticSource
from tests.conftest import FIXTURES
from tests.support import jenkins_replay

SECRETS_KEY = parse_key("5e" * 32, source="env:JENKINS_SECRETS_KEY")


@dataclass
class Kit:
    source: Any
    broken: Any  # the same kind of source whose check() must fail
    target: Callable[[Path], tuple[str, Callable[[], None]]]  # a real restore target, and how to make it non-empty


def _dir_target(tmp: Path) -> tuple[str, Callable[[], None]]:
    target = tmp / "restored"
    return str(target), lambda: (target.mkdir(parents=True, exist_ok=True), (target / "x").write_text("x"))[0]


def _static(tmp: Path, request: pytest.FixtureRequest) -> Kit:
    return Kit(StaticSource("s", {"a": b"alpha" * 1000, "b": b""}), StaticSource("s", {}, missing=True),
               lambda t: ("memory", lambda: None))


def make_ledger(path: Path, events: int = 25) -> None:
    with SqliteLedger(path) as ledger:
        for i in range(events):
            ledger.record(LedgerEvent(kind="deployment", actor="t", environment="prod", service="user",
                                      version=f"v{i}", outcome="succeeded"))


def _ledger(tmp: Path, request: pytest.FixtureRequest) -> Kit:
    path = tmp / "state" / "ledger.db"
    make_ledger(path)

    def target(t: Path) -> tuple[str, Callable[[], None]]:
        out = t / "restored-ledger.db"
        return str(out), lambda: out.write_bytes(b"x")

    return Kit(LedgerSource("ledger", path), LedgerSource("ledger", tmp / "none" / "ledger.db"), target)


def make_data_folder(root: Path) -> None:
    for service in ("user", "course"):
        folder = root / service
        folder.mkdir(parents=True)
        conn = sqlite3.connect(folder / f"{service}.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items (name) VALUES (?)", [(f"{service}-{i}",) for i in range(300)])
        conn.commit()
        conn.close()
    (root / "content").mkdir()
    (root / "content" / "lesson-1.md").write_text("# Lesson 1\n")


def _data(tmp: Path, request: pytest.FixtureRequest) -> Kit:
    make_data_folder(tmp / "data")
    return Kit(DataFolderSource("data", tmp / "data"), DataFolderSource("data", tmp / "nothing"), _dir_target)


def make_jenkins_home(home: Path) -> None:
    samples = FIXTURES / "jenkins" / "jenkins-rest"
    (home / "secrets").mkdir(parents=True)
    (home / "config.xml").write_text("<?xml version='1.1' encoding='UTF-8'?>\n<hudson><version>2.440</version>"
                                     "</hudson>\n")
    (home / "credentials.xml").write_text("<com.cloudbees.plugins.credentials.SystemCredentialsProvider/>\n")
    for job, sample in (("deploy", "pipeline.xml"), ("build", "freestyle-project.xml"), ("team", "folder-config.xml")):
        (home / "jobs" / job).mkdir(parents=True)
        (home / "jobs" / job / "config.xml").write_bytes((samples / sample).read_bytes())
    nested = home / "jobs" / "team" / "jobs" / "nightly"
    nested.mkdir(parents=True)
    (nested / "config.xml").write_bytes((samples / "pipeline.xml").read_bytes())
    (home / "jobs" / "deploy" / "builds" / "1").mkdir(parents=True)
    (home / "jobs" / "deploy" / "builds" / "1" / "log").write_text("a build log that is not configuration\n")
    (home / "users" / "admin_123").mkdir(parents=True)
    (home / "users" / "admin_123" / "config.xml").write_text("<user><fullName>admin</fullName></user>\n")
    (home / "nodes" / "agent-1").mkdir(parents=True)
    (home / "nodes" / "agent-1" / "config.xml").write_text("<slave><name>agent-1</name></slave>\n")
    (home / "plugins").mkdir()
    plugin = json.loads((samples / "plugins.json").read_text())["plugins"][0]
    with zipfile.ZipFile(home / "plugins" / f"{plugin['shortName']}.jpi", "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\r\nShort-Name: {plugin['shortName']}\r\n"
                                            f"Plugin-Version: {plugin['version']}\r\n")
    (home / "secrets" / "master.key").write_text(os.urandom(128).hex())
    (home / "secrets" / "hudson.util.Secret").write_bytes(os.urandom(272))


def _jenkins_home(tmp: Path, request: pytest.FixtureRequest) -> Kit:
    if not FIXTURES.is_dir():
        pytest.skip("shared fixtures absent")
    make_jenkins_home(tmp / "jenkins")
    (tmp / "broken").mkdir()
    return Kit(JenkinsHomeSource("jenkins", tmp / "jenkins", secrets_key=lambda: SECRETS_KEY),
               JenkinsHomeSource("jenkins", tmp / "broken", secrets_key=lambda: SECRETS_KEY), _dir_target)


def _jenkins_remote(tmp: Path, request: pytest.FixtureRequest) -> Kit:
    if not FIXTURES.is_dir():
        pytest.skip("shared fixtures absent")
    replay, server = jenkins_replay.start()
    request.addfinalizer(server.shutdown)
    request.addfinalizer(server.server_close)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    return Kit(JenkinsRemoteSource("jenkins", replay.url, username="ci", token="jenkins-token-xyz", timeout=5),
               JenkinsRemoteSource("jenkins", f"http://127.0.0.1:{closed}", timeout=2), _dir_target)


def _mariadb(tmp: Path, request: pytest.FixtureRequest) -> Kit:
    db = request.getfixturevalue("backup_db")
    name = db.make_database(rows=300)

    def source(databases: list[str]) -> MariaDBSource:
        return MariaDBSource("db", databases=databases, host=db.host, port=db.port, user=db.user,
                             password=db.password, scratch=scratch_mariadb)

    def target(t: Path) -> tuple[str, Callable[[], None]]:
        restored = f"{name}_restored"

        def fill() -> None:
            conn = db.admin()
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{restored}`")
                cur.execute(f"CREATE TABLE IF NOT EXISTS `{restored}`.keep_me (x INT)")
            conn.close()

        return restored, fill

    return Kit(source([name]), source(["no_such_database_here"]), target)


KITS = {"static": _static, "ledger": _ledger, "docker-data": _data, "jenkins-home": _jenkins_home,
        "jenkins": _jenkins_remote, "mariadb": _mariadb}


@pytest.fixture(params=["static", "ledger", "docker-data", "jenkins-home", "jenkins",
                        pytest.param("mariadb", marks=pytest.mark.integration)])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    return KITS[request.param](tmp_path, request)


def _dump(source: Any) -> dict[str, bytes]:
    parts: dict[str, bytes] = {}
    for part in source.dump():
        assert part.name not in parts
        parts[part.name] = b"".join(part.chunks)
    return parts


def _opener(parts: dict[str, bytes]) -> Callable[[str], Iterator[bytes]]:
    return lambda name: iter([parts[name][i: i + 65536] for i in range(0, len(parts[name]), 65536)])


def test_is_a_backup_source(kit: Kit) -> None:
    assert isinstance(kit.source, BackupSource)
    assert kit.source.name and kit.source.kind


def test_check_fails_before_anything_is_dumped(kit: Kit) -> None:
    kit.source.check()
    with pytest.raises((PreconditionError, ExternalError)):  # missing (exit 4) or unreachable (exit 5)
        kit.broken.check()


def test_a_scratch_restore_shows_the_recorded_facts(kit: Kit, tmp_path: Path) -> None:
    kit.source.check()
    parts = _dump(kit.source)
    facts = json.loads(json.dumps(kit.source.facts()))  # what a manifest can hold
    assert parts and facts
    work = tmp_path / "scratch"
    work.mkdir()
    result = kit.source.restore(_opener(parts), list(parts), facts, RestoreRequest(scratch=True, workdir=work))
    comparison = compare(facts, result.observed)
    assert comparison.ok, comparison.problems
    assert result.seconds >= 0 and result.where


@pytest.fixture(params=["ledger", "docker-data", "jenkins-home", "jenkins",
                        pytest.param("mariadb", marks=pytest.mark.integration)])
def real_kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    return KITS[request.param](tmp_path, request)


def test_a_restore_into_a_non_empty_target_needs_force(real_kit: Kit, tmp_path: Path) -> None:
    kit = real_kit
    parts = _dump(kit.source)
    facts = kit.source.facts()
    target, fill = kit.target(tmp_path)
    first = kit.source.restore(_opener(parts), list(parts), facts, RestoreRequest(to=(target,)))
    assert compare(facts, first.observed).ok
    fill()
    with pytest.raises(PreconditionError):
        kit.source.restore(_opener(parts), list(parts), facts, RestoreRequest(to=(target,)))
    again = kit.source.restore(_opener(parts), list(parts), facts, RestoreRequest(to=(target,), force=True))
    assert again.where
