"""Deployments written by coursectl itself (`SqliteLedger.record`, the contract in docs/ledger-events.md) are
measured like imported ones, and reports can be written to files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coursectl.domain import LedgerEvent
from coursectl.ledger import open_ledger

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _deploy(ledger, minutes: int, status: str, version: str, *, hotfix: bool = False,  # type: ignore[no-untyped-def]
            commits: list[tuple[str, int]] | None = None) -> None:
    finished = T0 + timedelta(minutes=minutes)
    details = {"started_at": (finished - timedelta(minutes=3)).isoformat(), "finished_at": finished.isoformat(),
               "status": status, "hotfix": hotfix, "digest": "sha256:" + "0" * 64, "strategy": "canary",
               "rollout_id": f"r{minutes}", "source": "coursectl"}
    if commits is not None:
        details["commits"] = [{"sha": sha, "committed_at": (finished - timedelta(minutes=age)).isoformat()}
                              for sha, age in commits]
    ledger.record(LedgerEvent(kind="deployment", actor="ci", environment="prod", service="user", version=version,
                              git_commit=f"{minutes:04x}", outcome=status, details=details, time=finished))


def test_recorded_history_is_measured(cli, state_dir: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no coursectl.yaml here or above
    with open_ledger(state_dir) as ledger:
        _deploy(ledger, 0, "succeeded", "1", commits=[("aaaa01", 30), ("aaaa02", 10)])
        _deploy(ledger, 60, "failed", "2", commits=[("aaaa03", 20)])
        _deploy(ledger, 70, "succeeded", "2", commits=[("aaaa03", 30)])  # the same commit, now it stayed
        _deploy(ledger, 200, "succeeded", "3", hotfix=True, commits=[("aaaa04", 5)])
        _deploy(ledger, 300, "succeeded", "4", commits=[])
        ledger.record(LedgerEvent(kind="rollback", actor="oncall", environment="prod", service="user", version="3",
                                  outcome="succeeded", time=T0 + timedelta(minutes=310),
                                  details={"from_version": "4", "to_version": "3", "status": "succeeded"}))
    out_file = tmp_path / "r.json"
    code, out, err = cli("metrics", "dora", "--from", "2026-03-01", "--to", "2026-03-08", "-f", "json",
                         "--out", str(out_file), "-o", "json")
    assert code == 0, err
    assert json.loads(out) == {"written": str(out_file), "format": "json"}
    r = json.loads(out_file.read_text())
    assert r["window"]["timezone"] == "UTC"  # no coursectl.yaml: defaults
    assert r["deployment_frequency"]["count"] == 4
    # failed (v2 at 60), hotfixed (v2 at 70, by the hotfix v3), rolled back (v4) of 5
    assert r["change_failure_rate"]["rate"] == 3 / 5
    assert r["lead_time"]["commits"] == 4 and r["lead_time"]["median_seconds"] == (600 + 1800) / 2
    # 60 → 70: 600 s; 70 → 200 (hotfix): 7800 s; v4 at 300 → rollback at 310: 600 s
    assert r["recovery_time"]["median_seconds"] == 600
    assert r["rework_rate"]["rate"] == 2 / 5

    export = tmp_path / "out.jsonl"
    code, out, err = cli("ledger", "export", "--out", str(export), "--service", "user", "-o", "json")
    assert code == 0 and json.loads(out)["exported"] == 6
    first = json.loads(export.read_text().splitlines()[0])
    assert first["actor"] == "ci" and first["source"] == "coursectl" and first["rollout_id"] == "r0"
    assert [c["sha"] for c in first["commits"]] == ["aaaa01", "aaaa02"]

    code, out, _ = cli("metrics", "dora", "--since", "30d", "-o", "quiet")
    assert code == 0 and out == ""


def test_bad_time_zones(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "coursectl.yaml"
    cfg.write_text("project: t\nservices:\n  a: {path: a, port: 8001}\nregistry: {url: 127.0.0.1:5000}\n"
                   "environments:\n  prod: {target: docker}\nmetrics: {timezone: Mars/Olympus}\n", encoding="utf-8")
    code, _, err = cli("-c", str(cfg), "metrics", "dora", "-o", "json")
    assert code == 3
    assert "metrics.timezone" in err and "unknown time zone 'Mars/Olympus'" in err
    cfg.write_text(cfg.read_text().replace("Mars/Olympus", "Europe/Berlin"), encoding="utf-8")
    code, _, err = cli("-c", str(cfg), "metrics", "dora", "--tz", "Nowhere/Land")
    assert code == 2 and "unknown time zone 'Nowhere/Land'" in err
    code, _, err = cli("-c", str(cfg), "metrics", "dora", "--tiers", "2019")
    assert code == 2 and "2019" in err
