"""Retention with restic's semantics (``forget --keep-*``), pure and table-tested.

Backups are taken newest first. ``keep_last n`` keeps the n newest; ``keep_hourly/daily/weekly/monthly/yearly n``
keep the newest backup of each of the n most recent hours/days/ISO weeks/months/years *that have a backup*
(periods without one do not count). Rules are ORed: a backup is kept when any rule keeps it, and one backup may
count for several rules. When a rule still has count left at the oldest backup, that backup is kept too
("oldest daily backup"), which keeps the longest history possible. ``-1`` means unlimited. A policy with no rule
keeps everything (restic refuses an empty policy). On top of restic: ids in ``protect`` are never removed (the
newest verified backup), with the reason given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

UNLIMITED = -1
RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")


@dataclass(frozen=True)
class Policy:
    """How many of each kind to keep (0: rule off, -1: unlimited)."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0

    @property
    def empty(self) -> bool:
        return all(getattr(self, rule) == 0 for rule in RULES)

    def describe(self) -> str:
        parts = [
            f"{'all' if getattr(self, r) == UNLIMITED else getattr(self, r)} {r}"
            for r in RULES
            if getattr(self, r)
        ]
        return "keep " + ", ".join(parts) if parts else "keep everything (no rule set)"


@dataclass(frozen=True)
class Item:
    """A backup as retention sees it."""

    id: str
    time: datetime


@dataclass(frozen=True)
class Decision:
    """One backup and why it stays (empty ``reasons``: it goes)."""

    item: Item
    reasons: tuple[str, ...] = ()

    @property
    def keep(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True)
class Plan:
    """Every backup, newest first, each kept with its reasons or removed."""

    decisions: tuple[Decision, ...] = field(default_factory=tuple)

    @property
    def keep(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep]

    @property
    def remove(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]


def _buckets(zone: ZoneInfo) -> dict[str, Callable[[datetime, int], object]]:
    def local(t: datetime) -> datetime:
        return t.astimezone(zone)

    return {
        "last": lambda t, nr: nr,
        "hourly": lambda t, nr: local(t).strftime("%Y%m%d%H"),
        "daily": lambda t, nr: local(t).strftime("%Y%m%d"),
        "weekly": lambda t, nr: local(t).isocalendar()[:2],
        "monthly": lambda t, nr: local(t).strftime("%Y%m"),
        "yearly": lambda t, nr: local(t).year,
    }


_REASON = {
    "last": "last",
    "hourly": "hourly",
    "daily": "daily",
    "weekly": "weekly",
    "monthly": "monthly",
    "yearly": "yearly",
}


def apply(
    items: Sequence[Item],
    policy: Policy,
    *,
    timezone: str = "UTC",
    protect: Mapping[str, str] | None = None,
) -> Plan:
    """Decide which backups stay. ``protect`` maps ids that must stay to the reason shown for them."""
    ordered = sorted(items, key=lambda i: i.time, reverse=True)  # stable: equal times keep input order
    protect = protect or {}
    if policy.empty:
        return Plan(tuple(Decision(i, ("no retention rule: everything is kept",)) for i in ordered))
    bucketers = _buckets(ZoneInfo(timezone))
    counts = {rule: getattr(policy, rule) for rule in RULES}
    last_seen: dict[str, object] = {rule: object() for rule in RULES}
    decisions = []
    oldest = len(ordered) - 1
    for nr, item in enumerate(ordered):
        reasons: list[str] = []
        for rule in RULES:
            if counts[rule] == 0:
                continue
            value = bucketers[rule](item.time, nr)
            if value != last_seen[rule] or nr == oldest:
                label = f"{_REASON[rule]} backup"
                if value == last_seen[rule]:
                    label = f"oldest {label}"
                reasons.append(label)
                last_seen[rule] = value
                if counts[rule] > 0:
                    counts[rule] -= 1
        if item.id in protect:
            reasons.append(protect[item.id])
        decisions.append(Decision(item, tuple(reasons)))
    return Plan(tuple(decisions))
