"""Pure DORA pieces: percentile/median, tiers by report year, effective statuses, windows across DST."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from coursectl.api.metrics import make_window, parse_span
from coursectl.dora.compute import classify, effective_statuses, previous_staying_rows
from coursectl.dora.model import Deployment, History, Rollback, Window, week_start
from coursectl.dora.stats import median, percentile
from coursectl.dora.tiers import tier_for
from coursectl.errors import UsageError
from coursectl.render.charts import bar_chart

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 90, None),
        ([5], 90, 5.0),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 90, 3.7),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 90, 10.0),
        ([1800, 1800, 2700, 177600], 90, 125130.0),
        ([3, 1, 2], 0, 1.0),
        ([3, 1, 2], 100, 3.0),
    ],
)
def test_percentile_is_linear_interpolation(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize(("values", "expected"), [([], None), ([3], 3.0), ([4, 1, 3], 3.0), ([4, 1, 3, 2], 2.5)])
def test_median_is_the_usual_median(values: list[float], expected: float | None) -> None:
    assert median(values) == expected
    if values:
        assert percentile(values, 50) == expected


@pytest.mark.parametrize(
    ("metric", "value", "year", "tier"),
    [
        ("deployment_frequency", 3.0, 2023, "elite"),
        ("deployment_frequency", 1.0, 2023, "elite"),
        ("deployment_frequency", 0.5, 2023, "high"),
        ("deployment_frequency", 1 / 7, 2023, "high"),
        ("deployment_frequency", 0.1, 2023, "medium"),
        ("deployment_frequency", 0.01, 2024, "low"),
        ("lead_time", 3600, 2023, "elite"),
        ("lead_time", 86400, 2023, "high"),
        ("lead_time", 8 * 86400, 2023, "medium"),
        ("lead_time", 40 * 86400, 2024, "low"),
        ("change_failure_rate", 0.05, 2023, "elite"),
        ("change_failure_rate", 0.08, 2023, "high"),
        ("change_failure_rate", 0.15, 2023, "medium"),
        ("change_failure_rate", 0.16, 2023, "low"),
        ("change_failure_rate", 0.12, 2024, "medium"),  # nearest 10 %
        ("change_failure_rate", 0.16, 2024, "high"),  # nearest 20 %
        ("change_failure_rate", 0.31, 2024, "low"),  # nearest 40 %
        ("recovery_time", 1800, 2023, "elite"),
        ("recovery_time", 7200, 2023, "high"),
        ("recovery_time", 2 * 86400, 2023, "medium"),
        ("recovery_time", 2 * 86400, 2024, "low"),
        ("recovery_time", 7200, 2024, "high"),
        ("lead_time", None, 2023, None),
    ],
)
def test_tiers(metric: str, value: float | None, year: int, tier: str | None) -> None:
    assert tier_for(metric, value, year) == tier


def test_unknown_tier_year() -> None:
    with pytest.raises(ValueError, match="2019"):
        tier_for("lead_time", 1.0, 2019)


def _dep(i: int, t: float, status: str = "succeeded", version: str = "v", hotfix: bool = False,
         service: str = "s") -> Deployment:
    return Deployment(i, service, "prod", version, f"{i:04x}", t, status, hotfix)


def test_classify_hotfix_rollback_and_services() -> None:
    deps = [
        _dep(1, 10, version="1"),
        _dep(2, 20, version="2"),
        _dep(3, 30, version="3", hotfix=True),  # marks 2 as hotfixed
        _dep(4, 40, version="4"),
        _dep(5, 45, version="x", service="other"),  # another service: untouched by the rollback below
        _dep(6, 60, "failed", version="5"),
        _dep(7, 70, "rolled_back", version="6"),
    ]
    rollbacks = [Rollback(100, "s", "prod", "4", "3", 50, "succeeded"),
                 Rollback(101, "s", "prod", "3", "1", 55, "failed")]  # a failed rollback takes nothing away
    eff = classify(deps, rollbacks)
    assert eff == {1: "succeeded", 2: "hotfixed", 3: "succeeded", 4: "rolled_back", 5: "succeeded",
                   6: "failed", 7: "rolled_back"}
    h = History.from_deployments(deps, rollbacks)
    prev = previous_staying_rows(h, effective_statuses(h))
    by_id = {int(i): row for row, i in enumerate(h.ids)}
    assert [int(h.ids[prev[by_id[i]]]) if prev[by_id[i]] >= 0 else None for i in (1, 2, 3, 4, 5)] == \
        [None, 1, 2, None, None]


def test_hotfix_after_rollback_marks_the_restored_deployment() -> None:
    deps = [_dep(1, 10, version="1"), _dep(2, 20, version="2"), _dep(3, 40, version="3", hotfix=True)]
    eff = classify(deps, [Rollback(9, "s", "prod", None, None, 30, "succeeded")])
    assert eff == {1: "hotfixed", 2: "rolled_back", 3: "succeeded"}


def test_window_days_and_weeks_across_dst() -> None:
    w = make_window(BERLIN, start="2026-10-01", end="2026-11-01")
    assert w.days == 31.0
    assert w.end_ts - w.start_ts == 31 * 86400 + 3600  # one hour longer in real time
    prev = w.previous()
    assert prev.start.isoformat() == "2026-08-31T00:00:00+02:00" and prev.days == 31.0
    sunday_night = datetime.fromisoformat("2026-10-25T22:30:00+00:00").timestamp()  # 23:30 CET, a Sunday
    assert week_start(sunday_night, BERLIN).isoformat() == "2026-10-19T00:00:00+02:00"
    spring = make_window(BERLIN, since="1d", now=datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN))
    assert spring.start.isoformat() == "2026-03-28T12:00:00+01:00" and spring.days == 1.0
    assert spring.end_ts - spring.start_ts == 23 * 3600


def test_window_arguments() -> None:
    assert parse_span("2w").days == 14
    with pytest.raises(UsageError):
        parse_span("0d")
    with pytest.raises(UsageError):
        make_window(BERLIN, since="3d", start="2026-01-01")
    with pytest.raises(UsageError):
        make_window(BERLIN, start="yesterday")
    aware = make_window(BERLIN, start="2026-10-01T00:00:00Z", end="2026-10-02T00:00:00Z")
    assert aware.start_ts == datetime.fromisoformat("2026-10-01T00:00:00+00:00").timestamp()
    with pytest.raises(ValueError):
        Window(datetime(2026, 1, 2), datetime(2026, 1, 1), BERLIN)


def test_bar_chart_is_plain_svg() -> None:
    svg = bar_chart([("a", 1.0), ("b", None), ("c<", 3.0)], title="T & t")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="bar"') == 2 and "n/a" in svg and "c&lt;" in svg and "T &amp; t" in svg
    assert "no data" in bar_chart([], title="empty")
