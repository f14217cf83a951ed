"""The JSONL interchange format of deployments and rollbacks: validate lines into events, and back.

One JSON object per line. A deployment::

    {"kind": "deployment", "service": "payment", "environment": "prod", "version": "1.4.2",
     "commit": "<sha>", "started_at": "2026-11-01T10:00:00Z", "finished_at": "2026-11-01T10:04:10Z",
     "status": "succeeded" | "failed" | "rolled_back", "hotfix": false,
     "commits": [{"sha": "...", "committed_at": "..."}]}

A rollback::

    {"kind": "rollback", "service": "payment", "environment": "prod", "from_version": "1.4.2",
     "to_version": "1.4.1", "started_at": "...", "finished_at": "...", "status": "succeeded" | "failed"}

More fields may be given; they are kept in the event's details and exported again. Times need an offset.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from coursectl.domain import LedgerEvent
from coursectl.errors import InputError

MAX_PROBLEMS = 20
MAX_LINE_BYTES = 1024 * 1024
"""A line longer than this is refused (and not parsed)."""
MAX_DEPTH = 32
"""Objects and arrays nested deeper than this are refused."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError(f"must be printable text (no control characters), got {value[:60]!r}")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range (1970-01-01 to 2200-01-01 UTC)") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(f"time {value.isoformat()} out of range (1970-01-01 to 2200-01-01 UTC)")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
Text = Annotated[str, Field(max_length=200), AfterValidator(_printable)]
Sha = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{4,64}$")]
When = Annotated[AwareDatetime, AfterValidator(_in_range)]
# detail keys that are coursectl's own bookkeeping, not fields of a record
_INTERNAL = {"commit_count", "status", "started_at", "finished_at", "hotfix", "from_version", "to_version"}
# detail keys coursectl sets on import (who imported what, from where, and what the record claimed): a record
# cannot set them, so an imported event can never pass for one coursectl recorded, or for someone else's
RESERVED = ("imported", "recorded_actor", "recorded_source", "commit_count")


class CommitRecord(BaseModel):
    """A commit a deployment brought."""

    model_config = ConfigDict(extra="allow")

    sha: Sha
    committed_at: When


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")

    service: Name
    environment: Name
    started_at: When
    finished_at: When
    actor: Text | None = None
    source: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _reserved(cls, data: Any) -> Any:
        if isinstance(data, dict):
            taken = [key for key in RESERVED if key in data]
            if taken:
                raise ValueError(f"{', '.join(taken)}: reserved, set by coursectl on import")
        return data

    @model_validator(mode="after")
    def _ordered(self) -> _Record:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        return self


class DeploymentRecord(_Record):
    """A deployment line."""

    kind: Literal["deployment"]
    version: Text | None = None
    commit: Sha | None = None
    status: Literal["succeeded", "failed", "rolled_back"]
    hotfix: StrictBool = False
    commits: list[CommitRecord] | None = None


class RollbackRecord(_Record):
    """A rollback line."""

    kind: Literal["rollback"]
    from_version: Text | None
    to_version: Text | None
    status: Literal["succeeded", "failed"]


def _utc(value: datetime) -> str:
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _extras(model: BaseModel) -> dict[str, Any]:
    return dict(model.model_extra or {})


def record_to_event(
    record: DeploymentRecord | RollbackRecord, *, importer: str = "import", origin: dict[str, Any] | None = None
) -> LedgerEvent:
    """The ledger event of a validated record (contract in docs/ledger-events.md).

    The event's actor is ``import:<importer>`` and ``details.source`` is ``"import"`` whatever the record says;
    ``details.imported`` says from which file (and line), by whom and when; the record's own ``actor`` and
    ``source`` are kept as ``recorded_actor`` / ``recorded_source`` (what it claims, exported again).
    """
    details: dict[str, Any] = dict(_extras(record))
    details["source"] = "import"
    details["imported"] = {"by": importer, **(origin or {})}
    if record.actor is not None:
        details["recorded_actor"] = record.actor
    if record.source is not None:
        details["recorded_source"] = record.source
    details.update(started_at=_utc(record.started_at), finished_at=_utc(record.finished_at), status=record.status)
    actor = f"import:{importer}"
    if isinstance(record, DeploymentRecord):
        details["hotfix"] = record.hotfix
        if record.commits is not None:
            details["commits"] = [
                {**_extras(c), "sha": c.sha, "committed_at": _utc(c.committed_at)} for c in record.commits
            ]
        return LedgerEvent(
            kind="deployment",
            actor=actor,
            environment=record.environment,
            service=record.service,
            version=record.version,
            git_commit=record.commit,
            outcome=record.status,
            details=details,
            time=record.finished_at.astimezone(UTC),
        )
    details.update(from_version=record.from_version, to_version=record.to_version)
    return LedgerEvent(
        kind="rollback",
        actor=actor,
        environment=record.environment,
        service=record.service,
        version=record.to_version,
        outcome=record.status,
        details=details,
        time=record.finished_at.astimezone(UTC),
    )


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if p not in ("deployment", "rollback"))
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_values(data: Any) -> None:
    """ValueError for nesting deeper than MAX_DEPTH or a string that is not valid Unicode (a lone surrogate)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
            for key, item in items:
                if key is not None:
                    stack.append((key, depth + 1))
                stack.append((item, depth + 1))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"invalid Unicode in {value[:40]!r} (a lone surrogate)") from None


def parse_line(text: str) -> DeploymentRecord | RollbackRecord:
    """One validated record from one line; ValueError saying what is wrong."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from exc
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    _check_values(data)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    kind = data.get("kind")
    model: type[DeploymentRecord] | type[RollbackRecord]
    if kind == "deployment":
        model = DeploymentRecord
    elif kind == "rollback":
        model = RollbackRecord
    else:
        shown = repr(kind) if len(repr(kind)) <= 60 else repr(kind)[:59] + "…"
        raise ValueError(f"kind: expected 'deployment' or 'rollback', got {shown}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from exc


def _lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(number, text, problem) per line of a regular UTF-8 file; InputError when it cannot be read at all."""
    from coursectl.textfile import UnreadableText, check_regular

    try:
        check_regular(path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except UnreadableText as exc:
        raise InputError(f"{path}: {exc.message}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise InputError(f"{path}: is not a regular file (a named pipe, device or socket): give a file")
        number = 0
        while True:
            try:
                raw = fh.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from None
            if not raw:
                return
            number += 1
            if number == 1:
                if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise InputError(
                        f"{path}: is encoded as UTF-16 (it starts with a byte-order mark): save it as UTF-8"
                    )
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if len(raw) > MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                    raw = fh.readline(MAX_LINE_BYTES)
                yield number, None, f"line longer than {MAX_LINE_BYTES:,} bytes"
                continue
            try:
                yield number, raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield number, None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"


def read_events(path: Path, *, importer: str = "import", now: datetime | None = None) -> list[LedgerEvent]:
    """Every event of a JSONL file, or InputError naming each bad line (blank lines are skipped).

    The file must be a regular file (a named pipe is refused rather than waited on); lines are at most
    MAX_LINE_BYTES, UTF-8, objects nested at most MAX_DEPTH deep, times between 1970 and 2200.
    """
    events: list[LedgerEvent] = []
    problems: list[dict[str, Any]] = []
    source = str(path.resolve()) if path.is_absolute() or path.exists() else str(path)
    stamp = _utc(now or datetime.now(UTC))
    for number, line, problem in _lines(path):
        if problem is None and line is not None and not line.strip():
            continue
        try:
            if problem is not None or line is None:
                raise ValueError(problem)
            origin = {"file": source, "line": number, "at": stamp}
            events.append(record_to_event(parse_line(line), importer=importer, origin=origin))
        except ValueError as exc:
            problems.append({"file": str(path), "line": number, "message": str(exc)})
    if problems:
        shown = [f"{p['file']}:{p['line']}: {p['message']}" for p in problems[:MAX_PROBLEMS]]
        more = len(problems) - len(shown)
        listed = "\n  ".join(shown)
        head = shown[0] if len(problems) == 1 else f"{len(problems)} invalid lines in {path}:\n  {listed}"
        if more > 0:
            head += f"\n  ... and {more} more"
        raise InputError(
            head,
            hint="fix these lines and import again; nothing was imported",
            details={"problems": problems[:500]},
        )
    return events


def event_to_record(event: LedgerEvent, commits: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The JSONL record of a deployment or rollback event (the inverse of ``record_to_event``)."""
    details = dict(event.details)
    finished = details.get("finished_at") or _utc(event.time)
    started = details.get("started_at") or finished
    imported = details.get("source") == "import"
    hidden = {*_INTERNAL, *RESERVED, "commits", "source"}
    extras = {k: v for k, v in details.items() if k not in hidden}
    if event.kind == "deployment":
        record: dict[str, Any] = {
            "kind": "deployment",
            "service": event.service,
            "environment": event.environment,
            "version": event.version,
            "commit": event.git_commit,
            "started_at": started,
            "finished_at": finished,
            "status": details.get("status") or event.outcome,
            "hotfix": bool(details.get("hotfix", False)),
        }
        if commits:
            record["commits"] = commits
    elif event.kind == "rollback":
        record = {
            "kind": "rollback",
            "service": event.service,
            "environment": event.environment,
            "from_version": details.get("from_version"),
            "to_version": details.get("to_version", event.version),
            "started_at": started,
            "finished_at": finished,
            "status": details.get("status") or event.outcome,
        }
    else:
        raise ValueError(f"only deployments and rollbacks are exported, not {event.kind!r}")
    actor = details.get("recorded_actor") if imported else event.actor
    if actor:
        record["actor"] = actor
    source = details.get("recorded_source") if imported else details.get("source")
    if source:
        record["source"] = source
    for key, value in extras.items():
        record.setdefault(key, value)
    return record


def dump_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """JSONL lines (without newlines), keys in a stable order."""
    for record in records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))
