"""The value types the DORA computations work on: deployments, rollbacks, commits and a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DEPLOYMENT_STATUSES = ("succeeded", "failed", "rolled_back")
ROLLBACK_STATUSES = ("succeeded", "failed")


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit a deployment brought: its sha and commit time (Unix seconds, UTC)."""

    sha: str
    committed_at: float


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment of one service to one environment; times are Unix seconds (UTC)."""

    id: int
    service: str
    environment: str
    version: str | None
    commit: str | None
    finished_at: float
    status: str
    hotfix: bool = False
    started_at: float | None = None


@dataclass(frozen=True, slots=True)
class Rollback:
    """A rollback of one service in one environment from one version to another."""

    id: int
    service: str
    environment: str
    from_version: str | None
    to_version: str | None
    finished_at: float
    status: str


def _wall(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)`` whose days and weeks are counted in ``tz``."""

    start: datetime
    end: datetime
    tz: ZoneInfo

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be time-zone aware")
        if self.end <= self.start:
            raise ValueError("the window's end must be after its start")

    @property
    def start_ts(self) -> float:
        return self.start.timestamp()

    @property
    def end_ts(self) -> float:
        return self.end.timestamp()

    @property
    def days(self) -> float:
        """Length in calendar days of ``tz`` (wall clock), so a DST change does not add or lose an hour."""
        local_start, local_end = self.start.astimezone(self.tz), self.end.astimezone(self.tz)
        return (_wall(local_end) - _wall(local_start)).total_seconds() / 86400.0

    def previous(self) -> Window:
        """The window of the same wall-clock length just before this one."""
        local_start = _wall(self.start.astimezone(self.tz))
        length = _wall(self.end.astimezone(self.tz)) - local_start
        return Window(local(local_start - length, self.tz), self.start, self.tz)

    def contains(self, ts: float) -> bool:
        return self.start_ts <= ts < self.end_ts

    def to_dict(self) -> dict[str, object]:
        return {
            "from": iso_utc(self.start.timestamp()),
            "to": iso_utc(self.end.timestamp()),
            "from_local": self.start.astimezone(self.tz).isoformat(),
            "to_local": self.end.astimezone(self.tz).isoformat(),
            "timezone": self.tz.key,
            "days": self.days,
        }


def local(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``tz`` made aware (the earlier instant when it is ambiguous)."""
    return wall.replace(tzinfo=tz, fold=0)


def week_start(ts: float, tz: ZoneInfo) -> datetime:
    """Monday 00:00 (in ``tz``) of the ISO week holding the instant ``ts``."""
    day = datetime.fromtimestamp(ts, tz).date()
    monday = day - timedelta(days=day.weekday())
    return local(datetime(monday.year, monday.month, monday.day), tz)


def iso_utc(ts: float) -> str:
    """``2026-11-01T10:04:10Z`` (milliseconds only when there are some)."""
    value = datetime.fromtimestamp(ts, UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
