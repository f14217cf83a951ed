"""`coursectl metrics dora` on the hand-checked fixture history gives the hand-computed values exactly.

Window: --from 2026-10-01 --to 2026-11-01 in Europe/Berlin = [2026-09-30T22:00Z, 2026-10-31T23:00Z), 31 days.
Deployments in it (prod): course 2.1.0 (ok), payment 1.1.0 (ok), 1.2.0 (failed), 1.2.0 (ok),
course 2.2.0 (rolled_back), 2.2.1 (ok), payment 1.3.0 (ok, then rolled back by a rollback record),
1.3.1 (ok, then hotfixed), 1.3.2 (hotfix, ok) = 9; 7 with status succeeded.
Outside: payment 1.4.0 at 2026-10-31T23:30Z (already 2026-11-01 in Berlin), the staging deployment.

Lead times (seconds), commit time → end of the first staying deployment that brought it:
  course 2.1.0: c0ffee01 2 h = 7200
  payment 1.1.0 (S1 ^C0, payment+common): C1 29 h = 104400, S1 2 h = 7200 (F1, F2 squashed away; C2 is course)
  payment 1.2.0: C4 ^S1: G1 (via merge M1, merge itself not counted) 26.5 h = 95400, C3 (common) 2.5 h = 9000,
                 C4 1.5 h = 5400
  course 2.2.1: c0ffee02 2 h 45 = 9900, c0ffee03 (+02:00 offset) 45 min = 2700
  payment 1.3.1 (C6 ^C4, 1.3.0 was rolled back): C5 37 h = 133200, C6 1 h = 3600
  payment 1.3.2: C7 20 min = 1200
  sorted: 1200 2700 3600 5400 7200 7200 9000 9900 95400 104400 133200 → median 7200; p90 h = 10*0.9 = 9 → 104400
Change failure rate: failed 1 + rolled_back 2 (course 2.2.0, payment 1.3.0) + hotfixed 1 (1.3.1) = 4 / 9
Rework rate: 1 hotfix + 1 rollback = 2 / 9
Recovery: 1.2.0 failed 10:00 → 10:30 = 1800; course 2.2.0 12:00 → 12:45 = 2700; 1.3.0 22:30 → rollback 23:00
  = 1800; 1.3.1 10-26 09:00 → 10-28 10:20 = 177600 → median (1800+2700)/2 = 2250; p90 h = 2.7 → 2700 + 0.7 *
  174900 = 125130
Previous window 2026-08-31 .. 2026-10-01: course failed, course ok (c0ffee00 2 h), payment 1.0.0 (first: no base)
  → per_day 2/31, lead median 7200, CFR 1/3, recovery 3600, rework 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixture_history import CONFIG, make_repo, records, write_jsonl

WINDOW = ("--from", "2026-10-01", "--to", "2026-11-01")


@pytest.fixture
def history(tmp_path: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    shas = make_repo(tmp_path / "repo")
    config = tmp_path / "coursectl.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    code, out, err = cli("ledger", "import", str(write_jsonl(tmp_path / "history.jsonl", records(shas))), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["imported"] == len(records(shas))
    return config


def test_dora_json_matches_hand_computed_values(history: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("-c", str(history), "metrics", "dora", *WINDOW, "--format", "json")
    assert code == 0, err
    r = json.loads(out)
    assert r["window"]["from"] == "2026-09-30T22:00:00Z" and r["window"]["to"] == "2026-10-31T23:00:00Z"
    assert r["window"]["days"] == 31.0

    df = r["deployment_frequency"]
    assert df["count"] == 7
    assert df["per_day"] == 7 / 31
    assert df["per_week"] == 7 / 31 * 7
    assert df["deploy_days"] == 7
    assert df["tier"] == "high"  # >= once a week, < once a day
    assert df["trend"]["previous"] == 2 / 31 and df["trend"]["direction"] == "better"

    lt = r["lead_time"]
    assert lt["commits"] == 11
    assert lt["median_seconds"] == 7200
    assert lt["p90_seconds"] == 104400
    assert lt["commits_from_git"] == 8  # S1 C1 · C4 C3 G1 · C6 C5 · C7 (nothing for payment 1.0.0: no base)
    assert lt["tier"] == "elite"
    assert lt["trend"] == {"previous": 7200, "change": 0, "direction": "same"}

    cfr = r["change_failure_rate"]
    assert (cfr["deployments"], cfr["failed"], cfr["rolled_back"], cfr["hotfixed"]) == (9, 1, 2, 1)
    assert cfr["rate"] == 4 / 9
    assert cfr["tier"] == "low"
    assert cfr["trend"]["previous"] == 1 / 3 and cfr["trend"]["direction"] == "worse"

    rw = r["rework_rate"]
    assert (rw["hotfix_deployments"], rw["rollbacks"], rw["rate"]) == (1, 1, 2 / 9)

    rec = r["recovery_time"]
    assert (rec["failures"], rec["recovered"], rec["unrecovered"]) == (4, 4, 0)
    assert rec["median_seconds"] == 2250
    assert rec["p90_seconds"] == 125130
    assert rec["tier"] == "elite"  # 37.5 min < 1 hour
    assert rec["trend"]["previous"] == 3600 and rec["trend"]["direction"] == "better"


def test_weeks_follow_berlin_time_across_the_dst_change(history: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("-c", str(history), "metrics", "dora", *WINDOW, "--by", "week", "-f", "json")
    assert code == 0, err
    weeks = {w["week_start"]: w for w in json.loads(out)["weekly"]}
    assert list(weeks) == ["2026-09-28", "2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"]
    # payment 1.3.0 finished 2026-10-25T22:30Z = Sunday 23:30 CET (it would be Monday 00:30 at the summer offset)
    assert weeks["2026-10-19"]["deployments"] == 1 and weeks["2026-10-19"]["change_failure_rate"] == 1.0
    assert weeks["2026-10-19"]["recovery_median_seconds"] == 1800
    assert (weeks["2026-10-05"]["deployments"], weeks["2026-10-05"]["failures"]) == (3, 1)
    assert weeks["2026-10-05"]["lead_time_median_seconds"] == 9000  # 5400 7200 9000 95400 104400
    assert weeks["2026-10-12"]["lead_time_median_seconds"] == 6300
    assert weeks["2026-10-26"]["lead_time_median_seconds"] == 3600
    assert weeks["2026-10-26"]["recovery_median_seconds"] == 177600
    assert weeks["2026-09-28"]["succeeded"] == 1  # course 2.1.0 at 00:30 CEST on 1 October


def test_service_filter_and_2024_tiers(history: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("-c", str(history), "metrics", "dora", *WINDOW, "--service", "payment", "--tiers", "2024",
                         "-f", "json")
    assert code == 0, err
    r = json.loads(out)
    # payment: 1.1.0, 1.2.0 failed, 1.2.0, 1.3.0 (rolled back), 1.3.1 (hotfixed), 1.3.2 = 6 deployments
    assert r["change_failure_rate"]["deployments"] == 6
    assert r["change_failure_rate"]["rate"] == 3 / 6
    assert r["change_failure_rate"]["tier"] == "low"  # nearest 2024 cluster value: 40 %
    assert r["lead_time"]["commits"] == 8  # 104400 7200 95400 9000 5400 133200 3600 1200
    assert r["lead_time"]["median_seconds"] == (7200 + 9000) / 2
    assert r["tiers_report"]["year"] == 2024


def test_too_few_deployments_reads_na_with_the_minimum(history: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli("-c", str(history), "metrics", "dora", "--from", "2026-10-01", "--to", "2026-10-08", "-f", "json")
    assert code == 0
    r = json.loads(out)
    assert r["change_failure_rate"]["deployments"] == 2
    for key in ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time"):
        assert r[key]["tier"] == "n/a"
        assert r[key]["tier_note"] == "fewer than 5 deployments in the window (2)"


def test_by_service_and_other_formats(history: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("-c", str(history), "metrics", "dora", *WINDOW, "--by", "service", "-f", "json")
    assert code == 0, err
    by = json.loads(out)["by_service"]
    assert by["course"]["change_failure_rate"]["rate"] == 1 / 3
    assert by["payment"]["recovery_time"]["median_seconds"] == 1800  # 1800 1800 177600

    code, out, err = cli("-c", str(history), "metrics", "dora", *WINDOW, "-f", "markdown")
    assert code == 0, err
    assert "| Change failure rate | 44.4 % (4 of 9) | low |" in out
    assert "median 2 h 00 min" in out and "Window [from, to)" in out

    code, out, err = cli("-c", str(history), "metrics", "dora", *WINDOW)
    assert code == 0, err
    assert "deployment frequency" in out and "elite" in out

    html = tmp_path / "r.html"
    code, out, err = cli("-c", str(history), "metrics", "dora", *WINDOW, "-f", "html", "--out", str(html))
    assert code == 0, err
    text = html.read_text()
    assert text.count("<svg") == 4 and 'class="bar"' in text
    assert "http://" not in text and "https://" not in text


def test_bad_window_is_a_usage_error(history: Path, cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("-c", str(history), "metrics", "dora", "--from", "2026-11-01", "--to", "2026-10-01")
    assert code == 2 and "after its start" in err
    code, _, err = cli("-c", str(history), "metrics", "dora", "--since", "soon", "-o", "json")
    assert code == 2 and json.loads(err)["error"]["type"] == "usage"
