"""Pure formatting of metric values for humans: durations, percentages, rates, tiers and trends."""

from __future__ import annotations

from typing import Any


def duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``; ``n/a`` for None."""
    if seconds is None:
        return "n/a"
    sign = "-" if seconds < 0 else ""
    s = abs(float(seconds))
    if s < 60:
        return f"{sign}{s:.0f} s"
    if s < 3600:
        return f"{sign}{s / 60:.0f} min" if s % 60 == 0 else f"{sign}{int(s // 60)} min {int(s % 60):02d} s"
    if s < 86400:
        return f"{sign}{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
    return f"{sign}{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def pct(rate: float | None, digits: int = 1) -> str:
    """A 0..1 ratio as a percentage; ``n/a`` for None."""
    return "n/a" if rate is None else f"{100.0 * rate:.{digits}f} %"


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.{digits}f}"


def trend(t: dict[str, Any] | None, kind: str = "num") -> str:
    """``↑ better (was 3.00)`` style text for a trend dictionary."""
    if not t or t.get("direction") is None:
        return "no previous data"
    prev = t["previous"]
    shown = duration(prev) if kind == "duration" else pct(prev) if kind == "pct" else num(prev)
    arrow = {"better": "▲ better", "worse": "▼ worse", "same": "= same"}[t["direction"]]
    return f"{arrow} (was {shown})"


def metric_value(line: dict[str, Any]) -> str:
    """The value of a success-metrics line in its unit."""
    value, unit = line.get("value"), line.get("unit")
    if value is None:
        return "unknown"
    if unit == "seconds":
        return duration(value)
    if unit == "ratio":
        return pct(value, 2)
    if unit == "percent":
        return f"{value:.1f} %"
    return f"{num(value)} {unit}"


HELPERS = {"duration": duration, "pct": pct, "num": num, "trend": trend, "metric_value": metric_value}
