"""DORA performance tiers from a named State of DevOps report year, and the judging of a value by them.

2023: Accelerate State of DevOps Report 2023 (DORA, Google Cloud), "Software delivery performance" table:
  deployment frequency: elite on demand (several a day) · high once a day to once a week ·
  medium once a week to once a month · low once a week to once a month (as printed);
  lead time: elite < 1 day · high 1 day-1 week · medium 1 week-1 month · low 1 week-1 month (as printed);
  change failure rate: elite 5 % · high 10 % · medium 15 % · low 64 %;
  failed deployment recovery time: elite < 1 hour · high < 1 day · medium 1 day-1 week · low 1-6 months.
2024: Accelerate State of DevOps Report 2024, performance clusters:
  deployment frequency: elite on demand · high once a day to once a week · medium once a week to once a
  month · low once a month to once every six months;
  lead time: elite < 1 day · high 1 day-1 week · medium 1 week-1 month · low 1-6 months;
  change failure rate: elite 5 % · high 20 % · medium 10 % · low 40 % (not monotone);
  failed deployment recovery time: elite < 1 hour · high < 1 day · medium < 1 day · low 1 week-1 month.

The reports describe clusters, not cut-offs; ``docs/metrics.md`` states how each is turned into a rule here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TIERS = ("elite", "high", "medium", "low")
TIER_YEARS = (2023, 2024)
DAY = 86400.0
WEEK = 7 * DAY
MONTH = 30 * DAY

# Deployment frequency (succeeded deployments per day) and time metrics (seconds) use upper/lower bounds:
# the first tier whose bound the value meets wins. Both years share these bounds for frequency and lead time.
_FREQUENCY_MIN_PER_DAY = (("elite", 1.0), ("high", 1.0 / 7.0), ("medium", 1.0 / 30.0))
_LEAD_TIME_MAX = (("elite", DAY), ("high", WEEK), ("medium", MONTH))
_RECOVERY_MAX = {
    2023: (("elite", 3600.0), ("high", DAY), ("medium", WEEK)),
    2024: (("elite", 3600.0), ("high", DAY), ("medium", DAY)),
}
# Change failure rate: 2023's values are monotone and read as upper bounds; 2024's clusters are not
# (high 20 % is worse than medium 10 %), so a rate goes to the cluster whose published value is nearest.
_CFR_2023_MAX = (("elite", 0.05), ("high", 0.10), ("medium", 0.15))
_CFR_2024_CLUSTERS = (("elite", 0.05), ("high", 0.20), ("medium", 0.10), ("low", 0.40))

REPORTS: Mapping[int, str] = {
    2023: "Accelerate State of DevOps Report 2023 (DORA / Google Cloud)",
    2024: "Accelerate State of DevOps Report 2024 (DORA / Google Cloud)",
}


@dataclass(frozen=True)
class TierTable:
    """The printed thresholds of one report year, for documentation and report footnotes."""

    year: int
    rows: Mapping[str, Mapping[str, str]]


TABLES: Mapping[int, TierTable] = {
    2023: TierTable(
        2023,
        {
            "deployment_frequency": {
                "elite": "on demand (>= 1/day)",
                "high": "1/day .. 1/week",
                "medium": "1/week .. 1/month",
                "low": "< 1/month",
            },
            "lead_time": {
                "elite": "< 1 day",
                "high": "1 day .. 1 week",
                "medium": "1 week .. 1 month",
                "low": ">= 1 month",
            },
            "change_failure_rate": {"elite": "<= 5%", "high": "<= 10%", "medium": "<= 15%", "low": "> 15% (64%)"},
            "recovery_time": {"elite": "< 1 hour", "high": "< 1 day", "medium": "< 1 week", "low": ">= 1 week"},
        },
    ),
    2024: TierTable(
        2024,
        {
            "deployment_frequency": {
                "elite": "on demand (>= 1/day)",
                "high": "1/day .. 1/week",
                "medium": "1/week .. 1/month",
                "low": "< 1/month",
            },
            "lead_time": {
                "elite": "< 1 day",
                "high": "1 day .. 1 week",
                "medium": "1 week .. 1 month",
                "low": ">= 1 month",
            },
            "change_failure_rate": {
                "elite": "nearest 5%",
                "high": "nearest 20%",
                "medium": "nearest 10%",
                "low": "nearest 40%",
            },
            "recovery_time": {
                "elite": "< 1 hour",
                "high": "< 1 day",
                "medium": "< 1 day (same as high)",
                "low": ">= 1 day",
            },
        },
    ),
}


def _first_at_most(value: float, bounds: tuple[tuple[str, float], ...], *, strict: bool) -> str:
    for tier, bound in bounds:
        if (value < bound) if strict else (value <= bound):
            return tier
    return "low"


def tier_for(metric: str, value: float | None, year: int = 2023) -> str | None:
    """The tier of ``value`` for ``metric`` by the report of ``year``; None when there is no value.

    Metrics: ``deployment_frequency`` (per day), ``lead_time`` and ``recovery_time`` (seconds, the median),
    ``change_failure_rate`` (0..1).
    """
    if year not in TIER_YEARS:
        raise ValueError(f"no tier table for {year}; known: {', '.join(map(str, TIER_YEARS))}")
    if value is None:
        return None
    if metric == "deployment_frequency":
        for tier, minimum in _FREQUENCY_MIN_PER_DAY:
            if value >= minimum:
                return tier
        return "low"
    if metric == "lead_time":
        return _first_at_most(value, _LEAD_TIME_MAX, strict=True)
    if metric == "recovery_time":
        return _first_at_most(value, _RECOVERY_MAX[year], strict=True)
    if metric == "change_failure_rate":
        if year == 2023:
            return _first_at_most(value, _CFR_2023_MAX, strict=False)
        # nearest published cluster value; ties go to the better tier (listed first)
        return min(_CFR_2024_CLUSTERS, key=lambda item: (abs(value - item[1]), TIERS.index(item[0])))[0]
    raise ValueError(f"unknown metric {metric!r}")
