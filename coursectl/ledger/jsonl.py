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
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from coursectl.domain import LedgerEvent
from coursectl.errors import InputError

MAX_PROBLEMS = 20
Name = Annotated[str, Field(min_length=1, max_length=200)]
Sha = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{4,64}$")]
# detail keys that are coursectl's own bookkeeping, not fields of a record
_INTERNAL = {"commit_count", "status", "started_at", "finished_at", "hotfix", "from_version", "to_version"}


class CommitRecord(BaseModel):
    """A commit a deployment brought."""

    model_config = ConfigDict(extra="allow")

    sha: Sha
    committed_at: AwareDatetime


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")

    service: Name
    environment: Name
    started_at: AwareDatetime
    finished_at: AwareDatetime
    actor: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Record:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        return self


class DeploymentRecord(_Record):
    """A deployment line."""

    kind: Literal["deployment"]
    version: str | None = None
    commit: Sha | None = None
    status: Literal["succeeded", "failed", "rolled_back"]
    hotfix: StrictBool = False
    commits: list[CommitRecord] | None = None


class RollbackRecord(_Record):
    """A rollback line."""

    kind: Literal["rollback"]
    from_version: str | None
    to_version: str | None
    status: Literal["succeeded", "failed"]


def _utc(value: datetime) -> str:
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _extras(model: BaseModel) -> dict[str, Any]:
    return dict(model.model_extra or {})


def record_to_event(record: DeploymentRecord | RollbackRecord, *, default_actor: str = "import") -> LedgerEvent:
    """The ledger event of a validated record (contract in docs/ledger-events.md)."""
    details: dict[str, Any] = {"source": "import", **_extras(record)}
    details.update(started_at=_utc(record.started_at), finished_at=_utc(record.finished_at), status=record.status)
    if isinstance(record, DeploymentRecord):
        details["hotfix"] = record.hotfix
        if record.commits is not None:
            details["commits"] = [
                {**_extras(c), "sha": c.sha, "committed_at": _utc(c.committed_at)} for c in record.commits
            ]
        return LedgerEvent(
            kind="deployment",
            actor=record.actor or default_actor,
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
        actor=record.actor or default_actor,
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
            msg = msg[len("Value error, "):]
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_line(text: str) -> DeploymentRecord | RollbackRecord:
    """One validated record from one line; ValueError saying what is wrong."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    kind = data.get("kind")
    model: type[DeploymentRecord] | type[RollbackRecord]
    if kind == "deployment":
        model = DeploymentRecord
    elif kind == "rollback":
        model = RollbackRecord
    else:
        raise ValueError(f"kind: expected 'deployment' or 'rollback', got {kind!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from exc


def read_events(path: Path, *, default_actor: str = "import") -> list[LedgerEvent]:
    """Every event of a JSONL file, or InputError naming each bad line (blank lines are skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from exc
    events: list[LedgerEvent] = []
    problems: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(record_to_event(parse_line(line), default_actor=default_actor))
        except ValueError as exc:
            problems.append({"file": str(path), "line": number, "message": str(exc)})
    if problems:
        shown = [f"{p['file']}:{p['line']}: {p['message']}" for p in problems[:MAX_PROBLEMS]]
        more = len(problems) - len(shown)
        head = shown[0] if len(problems) == 1 else f"{len(problems)} invalid lines in {path}:\n  " + "\n  ".join(shown)
        if more > 0:
            head += f"\n  ... and {more} more"
        raise InputError(
            head,
            hint="fix these lines and import again; nothing was imported",
            details={"problems": problems},
        )
    return events


def event_to_record(event: LedgerEvent, commits: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The JSONL record of a deployment or rollback event (the inverse of ``record_to_event``)."""
    details = dict(event.details)
    finished = details.get("finished_at") or _utc(event.time)
    started = details.get("started_at") or finished
    extras = {k: v for k, v in details.items() if k not in _INTERNAL and k != "commits"}
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
    if event.actor and event.actor != "import":
        record["actor"] = event.actor
    for key, value in extras.items():
        record.setdefault(key, value)
    return record


def dump_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """JSONL lines (without newlines), keys in a stable order."""
    for record in records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":"))
