"""A DORA window whose previous window lies before anything was recorded shows "no previous data", never a
trend against zero ("▲ better (was 0)")."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixture_history import CONFIG, make_repo, records, write_jsonl

WINDOW = ("--from", "2026-10-01", "--to", "2026-11-01")
PREVIOUS_ENDS = "2026-09-30T22:00:00Z"  # the window's start in UTC (Europe/Berlin)


def _import(tmp_path: Path, cli, keep) -> Path:  # type: ignore[no-untyped-def]
    shas = make_repo(tmp_path / "repo")
    config = tmp_path / "coursectl.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    chosen = [r for r in records(shas) if keep(r)]
    code, _, err = cli("ledger", "import", str(write_jsonl(tmp_path / "h.jsonl", chosen)), "-o", "json")
    assert code == 0, err
    return config


def test_no_previous_data_is_said_so_in_every_format(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    config = _import(tmp_path, cli, lambda r: str(r["finished_at"]) >= PREVIOUS_ENDS)
    code, out, err = cli("-c", str(config), "metrics", "dora", *WINDOW, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["previous_window"]["has_data"] is False
    for key in ("deployment_frequency", "lead_time", "change_failure_rate", "rework_rate", "recovery_time"):
        assert report[key]["trend"]["direction"] is None, key
        assert report[key]["trend"]["previous"] is None, key
    for fmt in ("table", "markdown"):
        code, out, err = cli("-c", str(config), "metrics", "dora", *WINDOW, "--format", fmt)
        assert code == 0, err
        assert "was 0" not in out and "better" not in out and "no previous data" in out, fmt


def test_a_previous_window_with_zero_deployments_after_earlier_history_is_a_real_zero(
    tmp_path: Path, cli  # type: ignore[no-untyped-def]
) -> None:
    # the history reaches back before the previous window (a deployment in August), and the previous window
    # itself had no deployment: zero is data, so the trend is shown
    def keep(r: dict[str, object]) -> bool:
        return str(r["finished_at"]) >= PREVIOUS_ENDS

    config = _import(tmp_path, cli, keep)
    early = {"kind": "deployment", "service": "course", "environment": "prod", "version": "1.0.0",
             "commit": "c0ffee00", "started_at": "2026-08-01T09:00:00Z", "finished_at": "2026-08-01T09:05:00Z",
             "status": "succeeded"}  # fmt: skip
    code, _, err = cli("ledger", "import", str(write_jsonl(tmp_path / "early.jsonl", [early])), "-o", "json")
    assert code == 0, err
    code, out, err = cli("-c", str(config), "metrics", "dora", *WINDOW, "--format", "json")
    report = json.loads(out)
    assert report["previous_window"]["has_data"] is True
    trend = report["deployment_frequency"]["trend"]
    assert trend["previous"] == 0 and trend["direction"] == "better"
