"""LogSource over log files: ``<folder>/<service>-<slot>.log`` (the process target's slots write there)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from coursectl.domain import LogLine
from coursectl.errors import ExternalError


class FileLogs:
    """Each slot's lines from its file; the files carry no runtime stamp (the JSON lines have their own)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def read(self, service: str, *, since: datetime | None = None, slot: str | None = None) -> list[LogLine]:
        out: list[LogLine] = []
        pattern = f"{service}-{slot}.log" if slot else f"{service}-*.log"
        for path in sorted(self.folder.glob(pattern)):
            name = path.name[len(service) + 1 : -len(".log")]
            if "-" in name:  # another service whose name starts with this one's
                continue
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise ExternalError(f"cannot read {path}: {exc.strerror or exc}") from exc
            out += [LogLine(service, name, None, line) for line in text.splitlines()]
        return out
