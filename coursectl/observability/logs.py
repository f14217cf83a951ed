"""Pure: the JSON log lines of many slots and services merged into one time-ordered stream, filtered.

The platform logs one JSON object per line (``ts``, ``level``, ``logger``, ``service``, ``request_id``,
``message`` and extra fields; ``course_common.logging``). A line that is not JSON is kept as a message of its
own (uvicorn's start-up lines, tracebacks) with the runtime's time stamp.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coursectl.domain import LogLine


@dataclass(frozen=True)
class LogRecord:
    """One parsed log line."""

    time: datetime | None
    service: str
    slot: str
    level: str
    request_id: str | None
    message: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat().replace("+00:00", "Z") if self.time else None,
            "service": self.service,
            "slot": self.slot,
            "level": self.level,
            "request_id": self.request_id,
            "message": self.message,
            "fields": self.fields,
        }


_CORE = {"ts", "level", "service", "request_id", "message"}


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse(line: LogLine) -> LogRecord:
    """A LogRecord from one line: its own ``ts`` wins over the runtime's stamp."""
    text = line.text.rstrip("\n")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return LogRecord(line.time, line.service, line.slot, "raw", None, text)
    rid = doc.get("request_id")
    return LogRecord(
        time=_parse_time(doc.get("ts")) or line.time,
        service=str(doc.get("service") or line.service),
        slot=line.slot,
        level=str(doc.get("level", "info")),
        request_id=str(rid) if rid not in (None, "", "-") else None,
        message=str(doc.get("message", "")),
        fields={k: v for k, v in doc.items() if k not in _CORE},
    )


def merge(
    lines: Iterable[LogLine],
    *,
    since: datetime | None = None,
    request_id: str | None = None,
    limit: int | None = None,
) -> list[LogRecord]:
    """Parse, keep what matches (``request_id`` exactly; at or after ``since``), order by time (lines without a
    time keep their place after the timed ones of the same slot), and keep the last ``limit``."""
    records = []
    for order, line in enumerate(lines):
        rec = parse(line)
        if request_id is not None and rec.request_id != request_id:
            continue
        if since is not None and rec.time is not None and rec.time < since:
            continue
        records.append((rec.time.timestamp() if rec.time else float("inf"), order, rec))
    records.sort(key=lambda item: (item[0], item[1]))
    out = [r for _, _, r in records]
    return out[-limit:] if limit else out


def human_line(rec: LogRecord) -> str:
    """``2026-11-30T06:00:00.123Z payment/blue INFO [rid] message key=value``."""
    when = rec.time.isoformat(timespec="milliseconds").replace("+00:00", "Z") if rec.time else "-"
    extra = " ".join(f"{k}={v}" for k, v in rec.fields.items() if k not in ("logger",))
    rid = f" [{rec.request_id}]" if rec.request_id else ""
    return f"{when} {rec.service}/{rec.slot} {rec.level.upper()}{rid} {rec.message}" + (
        f" {extra}" if extra else ""
    )
