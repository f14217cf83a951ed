"""Retention at scale, as restic's documentation describes it (the table cases are in tests/specs/retention.yaml)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from coursectl.backup.retention import Item, Policy, apply


def test_daily_backups_for_a_hundred_years() -> None:
    """restic doc: --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75 keeps the 7 most recent
    dailies, 4 more weeklies (7 dailies already include one, when the newest is a Sunday as here), 11 or 12 more
    monthlies, 74 or 75 more yearlies."""
    start = datetime(1926, 1, 1, 3, 0, tzinfo=UTC)
    days = 365 * 100 + 24
    days += (6 - (start + timedelta(days=days - 1)).weekday()) % 7  # end on a Sunday
    items = [Item(str(i), start + timedelta(days=i)) for i in range(days)]
    plan = apply(items, Policy(daily=7, weekly=5, monthly=12, yearly=75))
    per_rule = Counter(r for d in plan.keep for r in d.reasons)
    assert per_rule == {"daily backup": 7, "weekly backup": 5, "monthly backup": 12, "yearly backup": 75}
    first_reason = Counter(d.reasons[0] for d in plan.keep)
    assert first_reason["daily backup"] == 7
    assert first_reason["weekly backup"] == 4  # the newest week is all dailies
    # months and years already covered by a kept daily or weekly do not add a backup
    assert 10 <= first_reason["monthly backup"] <= 11 and 73 <= first_reason["yearly backup"] <= 74
    assert len(plan.keep) == sum(first_reason.values()) < 7 + 5 + 12 + 75
    assert len(plan.keep) + len(plan.remove) == len(items)


def test_only_days_with_a_backup_count() -> None:
    """restic doc: backups every Sunday for 12 weeks; --keep-daily 4 keeps the last four Sundays, so that a
    stopped backup job never lets forget remove everything."""
    sundays = [Item(str(i), datetime(2026, 9, 6, 2, 0, tzinfo=UTC) + timedelta(weeks=i)) for i in range(12)]
    plan = apply(sundays, Policy(daily=4))
    assert [d.item.id for d in plan.keep] == ["11", "10", "9", "8"]
    assert all(d.reasons == ("daily backup",) for d in plan.keep)


def test_policy_description() -> None:
    assert Policy(last=3, daily=7, monthly=-1).describe() == "keep 3 last, 7 daily, all monthly"
    assert Policy().describe() == "keep everything (no rule set)"
