"""`coursectl backup ...` end to end in-process, with the ledger and data-folder sources and a local store:
every command in human and json, every documented exit code, and no secret in any output or file."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from coursectl.domain import LedgerEvent
from coursectl.ledger import open_ledger
from tests.conftest import needs_fixtures
from tests.support import jenkins_replay
from tests.support.slack_standin import SlackServer

KEY = "q3sH2m9V0bqk1m3vO2Q1s7y5nJ0dF6tT8e4kW2zL9aU="  # base64 of 32 bytes; must never be printed
OTHER_KEY = "c" * 64

CONFIG = """\
project: demo
services: {{user: {{path: platform-services/user, port: 8001}}}}
registry: {{url: 127.0.0.1:5000}}
environments: {{local: {{target: docker}}}}
backups:
  key: {{env: DEMO_BACKUP_KEY}}
  chunk_size: 64KiB
  grace: 1h
  stores:
    disk: {{type: local, path: {store}}}
  sources:
    ledger: {{type: ledger, store: disk, retention: {{keep_last: 2}}}}
    data: {{type: docker-data, store: disk, environment: local}}
"""

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def setup(tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    store = tmp_path / "backups"
    store.mkdir()
    config = tmp_path / "coursectl.yaml"
    config.write_text(CONFIG.format(store=store))
    monkeypatch.setenv("DEMO_BACKUP_KEY", KEY)
    monkeypatch.setenv("COURSECTL_CONFIG", str(config))
    with open_ledger(state_dir) as ledger:
        for i in range(12):
            ledger.record(LedgerEvent(kind="deployment", actor="t", environment="prod", service="user",
                                      version=f"v{i}", outcome="succeeded"))
    data = state_dir / "data" / "local" / "user"
    data.mkdir(parents=True)
    conn = sqlite3.connect(data / "user.db")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.executemany("INSERT INTO users (email) VALUES (?)", [(f"u{i}@example.org",) for i in range(50)])
    conn.commit()
    conn.close()
    return {"store": store, "config": config, "state": state_dir}


def _all_files_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


def test_create_list_verify_restore_prune_in_json(cli: Cli, setup: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = cli("backup", "create", "-o", "json")
    assert code == 0, err
    made = {b["source"]: b for b in json.loads(out)["backups"]}
    assert set(made) == {"ledger", "data"} and all(b["ok"] for b in made.values())
    code, out, _ = cli("backup", "list", "-o", "json")
    listing = json.loads(out)
    assert code == 0 and {b["status"] for b in listing["backups"]} == {"unverified"} and listing["incomplete"] == []
    assert all(b["stored_size"] > 0 and b["age_seconds"] >= 0 for b in listing["backups"])

    code, out, err = cli("backup", "verify", "--latest", "--restore", "-o", "json")
    results = json.loads(out)["results"]
    assert code == 0, err
    assert {r["source"] for r in results} == {"ledger", "data"} and all(r["ok"] and r["restored"] for r in results)
    ledger_result = next(r for r in results if r["source"] == "ledger")
    assert any("events" in c for c in ledger_result["checked"]) and ledger_result["restore_seconds"] is not None
    code, out, _ = cli("backup", "list", "-o", "json")
    assert {b["status"] for b in json.loads(out)["backups"]} == {"verified"}
    assert all(b["last_restore_at"] for b in json.loads(out)["backups"])

    target = tmp_path / "restored" / "ledger.db"
    ledger_id = made["ledger"]["backup_id"]
    code, out, err = cli("backup", "restore", ledger_id, "--to", str(target), "--yes", "-o", "json")
    assert code == 0, err and json.loads(out)["ok"]
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'deployment'").fetchone()[0] == 12
    conn.close()

    code, out, _ = cli("backup", "prune", "--dry-run", "-o", "json")
    plan = {s["source"]: s for s in json.loads(out)["sources"]}
    assert code == 0 and plan["ledger"]["remove"] == [] and plan["ledger"]["dry_run"]
    assert plan["ledger"]["keep"][0]["reasons"] == ["last backup", "newest verified backup (never removed)"]
    assert plan["data"]["keep"][0]["reasons"] == ["no retention rule: everything is kept"]

    events = [e for e in open_ledger(setup["state"]).events(kinds=["backup"], newest_first=False)]
    assert [(e.details["action"], e.service) for e in events] == [
        ("create", "ledger"), ("create", "data"), ("verify", "ledger"), ("verify", "data"), ("restore", "ledger")]
    everything = out + err + _all_files_text(setup["store"]) + (setup["state"] / "ledger.db").read_bytes().decode(
        "latin-1")
    assert KEY not in everything
    assert KEY.rstrip("=") not in everything


def test_human_output_of_every_command(cli: Cli, setup: dict[str, Path], tmp_path: Path) -> None:
    code, out, err = cli("backup", "create", "ledger")
    assert code == 0 and "ledger: backup " in out and " parts" in out
    backup_id = out.split("backup ")[1].split()[0]
    code, out, _ = cli("backup", "list")
    assert code == 0 and backup_id in out and "unverified" in out
    code, out, _ = cli("backup", "verify", backup_id)
    assert code == 0 and f"ledger/{backup_id}: OK" in out and "every chunk authenticated" in out
    code, out, _ = cli("backup", "restore", backup_id, "--to", str(tmp_path / "l.db"), "--dry-run")
    assert code == 0 and "would restore" in out and not (tmp_path / "l.db").exists()
    code, out, _ = cli("backup", "prune", "--dry-run")
    assert code == 0 and "keep   " in out and "last backup" in out
    code, out, _ = cli("backup", "create", "--dry-run")
    assert code == 0 and "would back up ledger (ledger) into disk" in out
    code, out, _ = cli("backup", "list", "-o", "quiet")
    assert out.strip() == f"ledger/{backup_id}"


def test_kill_leftover_is_not_listed_as_good_and_prune_removes_it_after_the_grace(
        cli: Cli, setup: dict[str, Path]) -> None:
    folder = setup["store"] / "ledger" / "20200101T000000Z-0badc0de" / "parts"
    folder.mkdir(parents=True)
    (folder / "000-ledger.db.enc").write_bytes(b"half a part")
    (folder / ".partial-001-x.enc-1234abcd").write_bytes(b"half an upload")
    old = 1577836800
    for p in folder.rglob("*"):
        os.utime(p, (old, old))
    code, out, _ = cli("backup", "list", "-o", "json")
    listing = json.loads(out)
    assert listing["backups"] == [] and len(listing["incomplete"]) == 2
    code, out, err = cli("backup", "verify", "ledger/20200101T000000Z-0badc0de")
    assert code == 4 and "not a backup" in err
    code, out, _ = cli("backup", "prune", "--yes", "-o", "json")
    assert code == 0 and len(json.loads(out)["sources"][0]["leftovers"]) == 2
    assert not (setup["store"] / "ledger").exists() or not any((setup["store"] / "ledger").rglob("*"))
    assert cli("backup", "create", "ledger")[0] == 0


def test_wrong_key_is_exit_4_naming_the_key_id(cli: Cli, setup: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = cli("backup", "create", "ledger", "-o", "json")
    key_id = json.loads(out)["backups"][0]["key_id"]
    monkeypatch.setenv("DEMO_BACKUP_KEY", OTHER_KEY)
    code, out, err = cli("backup", "verify", "--latest", "-s", "ledger")
    assert code == 4 and f"cannot decrypt: key id {key_id}" in err and OTHER_KEY not in err + out
    code, out, err = cli("backup", "verify", "--latest", "-s", "ledger", "-o", "json")
    assert code == 4 and out == "" and json.loads(err)["error"]["message"] == f"cannot decrypt: key id {key_id}"


def test_a_flipped_byte_fails_verify_naming_the_part_exit_6(cli: Cli, setup: dict[str, Path]) -> None:
    assert cli("backup", "create", "data")[0] == 0
    (part,) = list((setup["store"] / "data").rglob("*.enc"))
    raw = bytearray(part.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    part.write_bytes(bytes(raw))
    code, out, err = cli("backup", "verify", "--latest", "-s", "data")
    assert code == 6 and "part data.tar" in out and "part data.tar" in err
    code, out, _ = cli("backup", "list", "-o", "json")
    assert json.loads(out)["backups"][0]["status"] == "failed"
    code, out, err = cli("backup", "restore", json.loads(out)["backups"][0]["backup_id"], "--to",
                         str(setup["store"].parent / "r"), "--yes")
    assert code == 6 and "nothing restored" in err and not (setup["store"].parent / "r").exists()


def test_a_truncated_part_fails_verify_exit_6(cli: Cli, setup: dict[str, Path]) -> None:
    assert cli("backup", "create", "ledger")[0] == 0
    (part,) = list((setup["store"] / "ledger").rglob("*.enc"))
    part.write_bytes(part.read_bytes()[:-20])
    code, out, err = cli("backup", "verify", "--latest", "-s", "ledger", "-o", "json")
    result = json.loads(out)["results"][0]
    assert code == 6 and not result["ok"] and result["problems"][0].startswith("part ledger.db: ")


def test_restore_refuses_the_live_ledger_and_needs_yes(cli: Cli, setup: dict[str, Path], tmp_path: Path) -> None:
    assert cli("backup", "create", "ledger")[0] == 0
    live = setup["state"] / "ledger.db"
    code, _, err = cli("backup", "restore", "--yes", "ledger/" + _latest(cli, "ledger"), "--to", str(live))
    assert code == 2 and "live ledger" in err
    code, _, err = cli("backup", "restore", "ledger/" + _latest(cli, "ledger"), "--to", str(tmp_path / "x.db"))
    assert code == 2 and "--yes" in err and not (tmp_path / "x.db").exists()
    (tmp_path / "taken.db").write_text("not a ledger")
    code, _, err = cli("backup", "restore", "--yes", _latest(cli, "ledger"), "--to", str(tmp_path / "taken.db"))
    assert code == 4 and "exists" in err
    code, _, err = cli("backup", "restore", "--yes", _latest(cli, "ledger"))
    assert code == 2 and "--to" in err


def _latest(cli: Cli, source: str) -> str:
    code, out, _ = cli("backup", "list", "-s", source, "-o", "json")
    return str(json.loads(out)["backups"][0]["backup_id"])


def test_missing_store_directory_and_missing_key_are_exit_4(cli: Cli, setup: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    setup["store"].rmdir()
    code, out, err = cli("backup", "create", "ledger")
    assert code == 4 and "does not exist" in err and "mkdir" in err
    setup["store"].mkdir()
    monkeypatch.delenv("DEMO_BACKUP_KEY")
    code, _, err = cli("backup", "create", "ledger")
    assert code == 4 and "env:DEMO_BACKUP_KEY" in err


def test_usage_and_config_errors(cli: Cli, setup: dict[str, Path]) -> None:
    assert cli("backup", "verify")[0] == 2
    assert cli("backup", "verify", "not-an-id")[0] == 2
    code, _, err = cli("backup", "create", "nope")
    assert code == 2 and "unknown backup source" in err
    setup["config"].write_text(setup["config"].read_text().replace("keep_last: 2", "keep_lats: 2"))
    code, _, err = cli("backup", "list")
    assert code == 3 and "backups.sources.ledger.retention.keep_lats: unknown key; did you mean 'keep_last'?" in err


def test_no_backups_section_is_a_config_error(cli: Cli, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSECTL_CONFIG", str(config_file))
    code, _, err = cli("backup", "list")
    assert code == 3 and "backups: not configured" in err


@pytest.mark.skipif(not jenkins_replay.samples_present(), reason="shared fixtures absent")
def test_remote_jenkins_configuration_from_the_real_samples(cli: Cli, tmp_path: Path, state_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    replay, server = jenkins_replay.start()
    try:
        store = tmp_path / "store"
        store.mkdir()
        config = tmp_path / "coursectl.yaml"
        config.write_text(
            "project: demo\nservices: {user: {path: x, port: 8001}}\nregistry: {url: 127.0.0.1:5000}\n"
            "environments: {local: {target: docker}}\nbackups:\n  key: {env: DEMO_BACKUP_KEY}\n"
            f"  stores: {{disk: {{type: local, path: {store}}}}}\n"
            f"  sources: {{ci: {{type: jenkins, store: disk, url: '{replay.url}', username: {{env: J_USER}},"
            " token: {env: J_TOKEN}}}\n")
        monkeypatch.setenv("COURSECTL_CONFIG", str(config))
        monkeypatch.setenv("DEMO_BACKUP_KEY", KEY)
        monkeypatch.setenv("J_USER", "ci-bot")
        monkeypatch.setenv("J_TOKEN", "11d0e5d2a7f1c3b4e6a8f0d2c4b6a8e0f1")
        code, out, err = cli("backup", "create", "-o", "json")
        assert code == 0, err
        code, out2, err2 = cli("backup", "verify", "--latest", "--restore", "-o", "json")
        assert code == 0, err2
        target = tmp_path / "restored"
        code, out3, err3 = cli("backup", "restore", _latest(cli, "ci"), "--to", str(target), "--yes")
        assert code == 0, err3
    finally:
        server.shutdown()
        server.server_close()
    assert (target / "jobs" / "Test Workflow Job" / "config.xml").read_bytes() == replay.sample("pipeline.xml")
    assert (target / "jobs" / "Test Folder" / "jobs" / "Test Project" / "config.xml").read_bytes() == \
        replay.sample("freestyle-project.xml")
    plugins = json.loads((target / "plugins.json").read_text())
    assert plugins == [{"name": "workflow-aggregator", "version": "2.5", "enabled": True, "active": True}]
    assert any(h.get("Authorization", "").startswith("Basic ") for h in replay.headers)
    everything = out + err + out2 + err2 + err3 + _all_files_text(store) + _all_files_text(state_dir)
    assert "11d0e5d2a7f1c3b4e6a8f0d2c4b6a8e0f1" not in everything and KEY not in everything


@needs_fixtures
def test_backup_outcomes_reach_slack_failures_as_critical(
    cli: Cli, setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A created backup is announced (backup.succeeded); a verification that finds a damaged part is announced as
    backup.failed naming the part; a successful verify says nothing. The key never reaches Slack."""
    with SlackServer() as standin:
        monkeypatch.setenv("DEMO_HOOK", standin.webhook_url)
        config = setup["config"]
        config.write_text(
            config.read_text()
            + "notifications:\n  slack: {webhook: {env: DEMO_HOOK}}\n"
            + "  routes:\n    - {events: [backup], to: [slack]}\n"
        )
        code, _, err = cli("backup", "create", "ledger")
        assert code == 0, err
        [created] = standin.calls(standin.webhook_path)
        assert "backup" in created.body["text"].lower() and "ledger" in created.body["text"]
        code, _, err = cli("backup", "verify", "--latest")
        assert code == 0, err
        assert len(standin.calls(standin.webhook_path)) == 1, "a good verification is not announced"
        part = next(p for p in setup["store"].rglob("parts/*") if p.is_file())
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))
        code, _, _ = cli("backup", "verify", "--latest")
        assert code == 6
        calls = standin.calls(standin.webhook_path)
        assert len(calls) == 2
        failed = calls[1].body
        assert "[CRITICAL]" in failed["text"] and "verify" in json.dumps(failed)
        assert KEY not in json.dumps([c.body for c in calls])
