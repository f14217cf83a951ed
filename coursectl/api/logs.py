"""Use case: the merged, filtered JSON logs of one service (or all) across every slot, for on-call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from coursectl.observability.logs import LogRecord, merge
from coursectl.ports import LogSource


def read_logs(
    source: LogSource,
    services: Sequence[str],
    *,
    since: datetime | None = None,
    request_id: str | None = None,
    slot: str | None = None,
    limit: int | None = None,
) -> list[LogRecord]:
    """Every slot's lines of ``services``, merged by time; only ``request_id``'s when given (so one request
    can be followed through every service it touched)."""
    lines = []
    for service in services:
        lines += source.read(service, since=since, slot=slot)
    return merge(lines, since=since, request_id=request_id, limit=limit)
