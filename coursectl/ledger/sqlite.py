"""The SQLite ledger: append and query events, and hold deploy locks, in one WAL database."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import struct
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coursectl.domain import LedgerEvent, LockInfo, utcnow
from coursectl.errors import CoursectlError, ExternalError, LockHeld, PreconditionError
from coursectl.ledger.migrations import SCHEMA_VERSION, migrate, schema_version
from coursectl.render.printable import printable

log = logging.getLogger(__name__)

DEFAULT_LOCK_TTL = 900.0
_SELECT_LOCKS = "SELECT environment, service, holder, reason, acquired_at, expires_at, token FROM locks"


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _epoch(value: str | datetime | float) -> float:
    """Unix seconds from an aware datetime, an ISO 8601 text with an offset, or a number."""
    if isinstance(value, int | float):
        return float(value)
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"time without a time zone: {value}")
    return when.timestamp()


def _iso_from_epoch(ts: float) -> str:
    when = datetime.fromtimestamp(ts, UTC)
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def pack_times(times: Sequence[float]) -> bytes:
    """Unix times packed as little-endian float64 (the ``commit_times`` column)."""
    return struct.pack(f"<{len(times)}d", *times)


def unpack_times(blob: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(blob) // 8}d", blob)


def natural_key(event: LedgerEvent) -> str | None:
    """What makes a deployment or rollback the same one when it is imported again; None for other kinds."""
    if event.kind not in ("deployment", "rollback"):
        return None
    started = event.details.get("started_at")
    started_text = _iso_from_epoch(_epoch(started)) if started else ""
    finished = _iso_from_epoch(event.time.timestamp())
    if event.kind == "deployment":
        parts = [event.environment, event.service, event.version, event.git_commit, started_text, finished]
    else:
        parts = [
            event.environment,
            event.service,
            event.details.get("from_version"),
            event.details.get("to_version"),
            started_text,
            finished,
        ]
    return event.kind + "|" + "|".join("" if p is None else str(p) for p in parts)


def translate(exc: sqlite3.Error, path: Path) -> CoursectlError:
    """The coursectl error of a SQLite error on the ledger at ``path``: what is wrong, where, and what to do."""
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return ExternalError(f"the ledger at {path} is busy: {text}", hint="another coursectl holds it; try again")
    if "readonly" in low or "read-only" in low:
        return PreconditionError(
            f"the ledger at {path} is read-only: {text}",
            hint="make the file and its folder writable (coursectl records every action), or use a copy",
        )
    if "unable to open" in low:
        return PreconditionError(
            f"the ledger at {path} cannot be opened: {text}",
            hint="check that the file and its folder exist and are readable and writable",
        )
    if "disk i/o" in low or "full" in low:
        return ExternalError(f"the ledger at {path} cannot be written: {text}", hint="check the disk")
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.OperationalError | sqlite3.IntegrityError
    ):
        return PreconditionError(
            f"the ledger at {path} is damaged: {text}",
            hint="run `coursectl ledger check` for the details; restore it from a backup",
        )
    return ExternalError(f"the ledger at {path}: {text}")


class _Cursor:
    """A cursor whose SQLite errors (damage found while reading rows) become coursectl errors."""

    def __init__(self, cursor: sqlite3.Cursor, path: Path):
        self._cursor = cursor
        self._path = path

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, self._path) from exc

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, self._path) from exc

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class GuardedConnection:
    """The ledger's SQLite connection: every SQLite error becomes a coursectl error naming the ledger's path."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.raw = conn
        self._path = path

    def execute(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> _Cursor:
        try:
            return _Cursor(self.raw.execute(sql, args), self._path)
        except sqlite3.Error as exc:
            raise translate(exc, self._path) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> _Cursor:
        try:
            return _Cursor(self.raw.executemany(sql, rows), self._path)
        except sqlite3.Error as exc:
            raise translate(exc, self._path) from exc

    def close(self) -> None:
        self.raw.close()


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def _create(path: Path) -> None:
    """A new ledger at ``path``, built beside it and linked into place, so that no other process ever sees a
    half-made (empty) file; when another process created it meanwhile, theirs is kept."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn)
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a plain rename (the race is then possible)
            if not os.path.lexists(path):
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)


def connect_read_only(path: Path, timeout: float = 10.0) -> sqlite3.Connection:
    """A read-only connection to ``path``; when even that needs a write (WAL files in a read-only folder), the
    file is opened as immutable (nobody can be writing it then)."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(
            uri + "?mode=ro", uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        return sqlite3.connect(
            uri + "?mode=ro&immutable=1", uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )


def check_state_dir(folder: Path) -> None:
    """PreconditionError when the state directory (or a folder above it) exists but is not a directory."""
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            if not candidate.is_dir():
                raise PreconditionError(
                    f"the state directory {folder} cannot be used: {candidate} is not a directory",
                    hint="point COURSECTL_STATE_DIR at a directory (or remove the file)",
                )
            return


class SqliteLedger:
    """The ledger in a SQLite file (WAL mode, schema migrated on open).

    Safe for several processes at once: every write is a short IMMEDIATE transaction. A file that does not
    exist is created; a file that exists but has no ledger schema (emptied to 0 bytes, or another program's
    database) is refused unless ``initialise`` is given (``coursectl ledger init``), so history and locks are
    never silently replaced by an empty ledger. Every SQLite error becomes a coursectl error naming the file:
    damaged (exit 4, see ``coursectl ledger check``), read-only (exit 4), busy or I/O failure (exit 5).
    """

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = 10.0,
        initialise: bool = False,
        now: Callable[[], datetime] = utcnow,
    ):
        self.path = path
        self._now = now  # the time of lock expiries (injectable: lock tests never sleep)
        check_state_dir(path.parent)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(path):
                _create(path)
        except OSError as exc:
            raise PreconditionError(
                f"the ledger at {path} cannot be created: {exc.strerror or exc}",
                hint="check COURSECTL_STATE_DIR: it must be a writable directory",
            ) from exc
        except sqlite3.Error as exc:
            raise translate(exc, path) from exc
        if not path.is_file():
            raise PreconditionError(
                f"the ledger at {path} is not a regular file",
                hint="move it away, or point COURSECTL_STATE_DIR elsewhere",
            )
        raw: sqlite3.Connection | None = None
        self.read_only = not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK))
        try:
            if self.read_only:  # reads still work (history, status); every write says the ledger is read-only
                raw = connect_read_only(path, busy_timeout)
                self._refuse_unknown(raw, initialise=False)
                if schema_version(raw) < SCHEMA_VERSION:
                    raise PreconditionError(
                        f"the ledger at {path} is read-only and needs a schema upgrade",
                        hint="make it writable once so that coursectl can migrate it",
                    )
            else:
                raw = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
                self._refuse_unknown(raw, initialise)
                raw.execute("PRAGMA journal_mode=WAL")
                raw.execute("PRAGMA synchronous=NORMAL")
                raw.execute("PRAGMA foreign_keys=ON")
                migrate(raw)
        except sqlite3.Error as exc:
            if raw is not None:
                raw.close()
            error = translate(exc, path)
            if isinstance(error, PreconditionError) and "damaged" in error.message:
                error = PreconditionError(
                    f"the ledger at {path} cannot be opened: it is damaged or not a database ({exc})",
                    hint=error.hint,
                )
            raise error from exc
        except BaseException:
            if raw is not None:
                raw.close()
            raise
        self._conn = GuardedConnection(raw, path)

    @classmethod
    def in_memory(cls, *, now: Callable[[], datetime] = utcnow) -> SqliteLedger:
        """An empty ledger in memory (nothing on disk): what a dry run reads when no ledger exists yet."""
        ledger = cls.__new__(cls)
        ledger.path = Path(":memory:")
        ledger._now = now
        ledger.read_only = False
        raw = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        migrate(raw)
        ledger._conn = GuardedConnection(raw, ledger.path)
        return ledger

    def _refuse_unknown(self, conn: sqlite3.Connection, initialise: bool) -> None:
        """Refuse a file without the ledger's schema (unless initialising an empty one)."""
        if schema_version(conn) != 0:
            return
        tables = _tables(conn)
        if tables:
            raise PreconditionError(
                f"{self.path} is not a coursectl ledger: it has no ledger schema but holds tables"
                f" ({', '.join(tables[:5])})",
                hint="point COURSECTL_STATE_DIR at coursectl's own state directory",
            )
        if initialise:
            return
        size = self.path.stat().st_size
        raise PreconditionError(
            f"the ledger at {self.path} exists but has no schema"
            + (" (the file is empty, 0 bytes)" if size == 0 else "")
            + ": its history and locks are missing, so it is not used as a new ledger",
            hint="restore it from a backup; or, to start a new, empty ledger there, run `coursectl ledger init`",
        )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[GuardedConnection]:
        try:  # BEGIN inside: a Ctrl-C landing as it returns must not leave the write lock held
            self._conn.execute("BEGIN IMMEDIATE")
            yield self._conn
        except BaseException:
            if self._conn.raw.in_transaction:
                try:
                    self._conn.raw.execute("ROLLBACK")
                except sqlite3.Error:  # SQLite may already have rolled back (a full disk, damage found)
                    pass
            raise
        else:
            self._conn.execute("COMMIT")

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query (outside any transaction)."""
        return self._conn.execute(sql, args).fetchall()

    # events ------------------------------------------------------------------------------------------

    def record(self, event: LedgerEvent) -> LedgerEvent:
        """Append ``event``; returns it with its id."""
        with self._tx() as conn:
            return self._insert(conn, event)

    @staticmethod
    def _insert(conn: GuardedConnection, event: LedgerEvent, *, key: str | None = None) -> LedgerEvent:
        details = dict(event.details)
        commits = details.pop("commits", None) if event.kind == "deployment" else None
        if commits is not None:
            details["commit_count"] = len(commits)
        cur = conn.execute(
            "INSERT INTO events (ts, kind, actor, environment, service, version, git_commit, outcome, details,"
            " natural_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _utc_text(event.time),
                event.kind,
                event.actor,
                event.environment,
                event.service,
                event.version,
                event.git_commit,
                event.outcome,
                json.dumps(details, sort_keys=True, default=str),
                key if key is not None else natural_key(event),
            ),
        )
        if event.kind == "deployment" and event.outcome is not None:
            SqliteLedger._project_deployment(conn, event, int(cur.lastrowid or 0), details, commits)
        return replace(event, id=cur.lastrowid)

    @staticmethod
    def _project_deployment(
        conn: GuardedConnection,
        event: LedgerEvent,
        event_id: int,
        details: dict[str, Any],
        commits: list[dict[str, Any]] | None,
    ) -> None:
        """Write the metrics projection of a deployment (and its commits); flag commits seen before."""
        blob = None
        repeated = 0
        if commits is not None:
            rows = [(event_id, str(c["sha"]), _epoch(c["committed_at"])) for c in commits]
            blob = pack_times(sorted(r[2] for r in rows))
            shas = sorted({r[1] for r in rows})
            earlier: set[int] = set()
            for i in range(0, len(shas), 500):
                chunk = shas[i : i + 500]
                earlier.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT DISTINCT event_id FROM deployment_commits"
                        f" WHERE sha IN ({','.join('?' * len(chunk))})",
                        chunk,
                    )
                )
            if earlier:
                repeated = 1
                conn.executemany(
                    "UPDATE dora_deployments SET repeated = 1 WHERE event_id = ?", [(i,) for i in earlier]
                )
            conn.executemany(
                "INSERT OR IGNORE INTO deployment_commits (event_id, sha, committed_at) VALUES (?, ?, ?)", rows
            )
        conn.execute(
            "INSERT INTO dora_deployments (event_id, environment, service, version, git_commit, status,"
            " finished_at, hotfix, commit_times, repeated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                event.environment,
                event.service,
                event.version,
                event.git_commit,
                event.outcome,
                event.time.timestamp(),
                1 if details.get("hotfix") else 0,
                blob,
                repeated,
            ),
        )

    def import_events(self, events: Sequence[LedgerEvent]) -> tuple[int, int]:
        """Append ``events`` in one transaction, skipping those already recorded (same natural key).

        Returns (imported, skipped). Either all new events are written or none.
        """
        imported = skipped = 0
        with self._tx() as conn:
            for event in events:
                key = natural_key(event)
                if key and conn.execute("SELECT 1 FROM events WHERE natural_key = ?", (key,)).fetchone():
                    skipped += 1
                    continue
                self._insert(conn, event, key=key)
                imported += 1
        return imported, skipped

    def deployment_commits(self, event_id: int) -> list[dict[str, str]]:
        """The commits a deployment brought, as recorded (oldest first)."""
        rows = self._conn.execute(
            "SELECT sha, committed_at FROM deployment_commits WHERE event_id = ? ORDER BY committed_at, sha",
            (event_id,),
        ).fetchall()
        return [{"sha": sha, "committed_at": _iso_from_epoch(ts)} for sha, ts in rows]

    def deployment_rows(
        self, environment: str | None, service: str | None = None, statuses: Sequence[str] | None = None
    ) -> list[tuple[Any, ...]]:
        """Every deployment of ``environment`` (and ``service``, with one of ``statuses``), oldest first, as
        tuples: (id, service, environment, version, git_commit, status, finished_at as Unix seconds, hotfix,
        packed commit times or None, commits also listed by another deployment)."""
        sql = (
            "SELECT event_id, service, environment, version, git_commit, status, finished_at, hotfix,"
            " commit_times, repeated FROM dora_deployments WHERE 1 = 1"
        )
        args: list[Any] = []
        if environment:
            sql += " AND environment = ?"
            args.append(environment)
        if service:
            sql += " AND service = ?"
            args.append(service)
        if statuses:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            args.extend(statuses)
        return self._conn.execute(sql + " ORDER BY finished_at, event_id", args).fetchall()

    def rollback_rows(self, environment: str | None, service: str | None = None) -> list[tuple[Any, ...]]:
        """Every rollback record: (id, service, environment, from_version, to_version, outcome, finished_at)."""
        sql = (
            "SELECT id, service, environment, json_extract(details, '$.from_version'),"
            " json_extract(details, '$.to_version'), outcome,"
            " CAST(strftime('%s', ts) AS INTEGER) + CAST(substr(ts, 20, 7) AS REAL)"
            " FROM events WHERE kind = 'rollback'"
        )
        return self._conn.execute(*self._scoped(sql, environment, service)).fetchall()

    @staticmethod
    def _scoped(sql: str, environment: str | None, service: str | None) -> tuple[str, list[Any]]:
        args: list[Any] = []
        if environment:
            sql += " AND environment = ?"
            args.append(environment)
        if service:
            sql += " AND service = ?"
            args.append(service)
        return sql + " ORDER BY ts, id", args

    def commit_rows(self, event_ids: Sequence[int]) -> list[tuple[int, str, float]]:
        """(event_id, sha, committed_at) of the commits recorded for these deployments."""
        if not event_ids:
            return []
        conn = self._conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_events (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.wanted_events")
        conn.executemany("INSERT OR IGNORE INTO temp.wanted_events (id) VALUES (?)", ((i,) for i in event_ids))
        rows = conn.execute(
            "SELECT c.event_id, c.sha, c.committed_at FROM temp.wanted_events w"
            " JOIN deployment_commits c ON c.event_id = w.id"
        ).fetchall()
        conn.execute("DELETE FROM temp.wanted_events")
        return rows

    def events(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        kinds: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[LedgerEvent]:
        """Events matching every filter given, newest first by default."""
        where: list[str] = []
        args: list[Any] = []
        if service:
            where.append("service = ?")
            args.append(service)
        if environment:
            where.append("environment = ?")
            args.append(environment)
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args.extend(kinds)
        if since:
            where.append("ts >= ?")
            args.append(_utc_text(since))
        if until:
            where.append("ts < ?")
            args.append(_utc_text(until))
        sql = "SELECT id, ts, kind, actor, environment, service, version, git_commit, outcome, details FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts DESC, id DESC" if newest_first else " ORDER BY ts, id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._conn.execute(sql, args).fetchall()
        return [self._event(row) for row in rows]

    @staticmethod
    def _event(row: Sequence[Any]) -> LedgerEvent:
        return LedgerEvent(
            id=row[0],
            time=_parse(row[1]),
            kind=row[2],
            actor=row[3],
            environment=row[4],
            service=row[5],
            version=row[6],
            git_commit=row[7],
            outcome=row[8],
            details=json.loads(row[9] or "{}"),
        )

    # locks -------------------------------------------------------------------------------------------

    def lock_info(self, environment: str, service: str) -> LockInfo | None:
        return self._read_lock(self._conn, environment, service)

    @classmethod
    def _read_lock(cls, conn: GuardedConnection, environment: str, service: str) -> LockInfo | None:
        row = conn.execute(
            _SELECT_LOCKS + " WHERE environment = ? AND service = ?", (environment, service)
        ).fetchone()
        return cls._lock(row) if row else None

    def locks(self, environment: str | None = None) -> list[LockInfo]:
        sql = _SELECT_LOCKS
        rows = (
            self._conn.execute(sql + " WHERE environment = ? ORDER BY service", (environment,))
            if environment
            else self._conn.execute(sql + " ORDER BY environment, service")
        ).fetchall()
        return [self._lock(row) for row in rows]

    @staticmethod
    def _lock(row: Sequence[Any]) -> LockInfo:
        return LockInfo(row[0], row[1], row[2], row[3], _parse(row[4]), _parse(row[5]), row[6])

    def acquire_lock(
        self,
        environment: str,
        service: str,
        *,
        holder: str,
        reason: str,
        ttl: float = DEFAULT_LOCK_TTL,
        wait: float = 0.0,
        take_over: bool = False,
        poll: float = 0.25,
    ) -> LockInfo:
        """Take the deploy lock of (environment, service) or raise LockHeld naming who holds it.

        A lock past its expiry is taken over, and the take-over recorded. ``wait`` seconds are spent
        retrying a held lock before giving up. ``take_over`` takes even a live lock (rollback of a stuck
        rollout), recording whose it was.
        """
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                return self._try_acquire(environment, service, holder, reason, ttl, take_over)
            except LockHeld:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def _try_acquire(
        self, environment: str, service: str, holder: str, reason: str, ttl: float, take_over: bool
    ) -> LockInfo:
        now = self._now()
        with self._tx() as conn:
            previous = self._read_lock(conn, environment, service)
            if previous and not previous.expired(now) and not take_over:
                raise LockHeld(
                    f"the deploy lock of {service} in {environment} is held by {printable(previous.holder)}"
                    f" since {previous.acquired_at:%Y-%m-%d %H:%M:%S} UTC: {printable(previous.reason)}",
                    hint=f"wait (--lock-wait SECONDS) or, if it is abandoned, it expires at"
                    f" {previous.expires_at:%H:%M:%S} UTC",
                    details=previous.to_dict(),
                )
            info = LockInfo(
                environment, service, holder, reason, now, now + timedelta(seconds=ttl), uuid.uuid4().hex
            )
            conn.execute(
                "INSERT OR REPLACE INTO locks (environment, service, holder, reason, acquired_at, expires_at,"
                " token) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (environment, service, holder, reason, _utc_text(now), _utc_text(info.expires_at), info.token),
            )
            kind = "lock.takeover" if previous else "lock.acquire"
            details: dict[str, Any] = {"reason": reason, "expires_at": _utc_text(info.expires_at)}
            if previous:
                details["previous"] = previous.to_dict()
                details["previous_expired"] = previous.expired(now)
            self._insert(
                conn,
                LedgerEvent(kind=kind, actor=holder, environment=environment, service=service, details=details),
            )
            return info

    def refresh_lock(self, lock: LockInfo, ttl: float = DEFAULT_LOCK_TTL) -> LockInfo:
        """Push the expiry of a lock we hold (the heartbeat); LockHeld if it was taken from us."""
        expires = self._now() + timedelta(seconds=ttl)
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE locks SET expires_at = ? WHERE environment = ? AND service = ? AND token = ?",
                (_utc_text(expires), lock.environment, lock.service, lock.token),
            )
            if cur.rowcount != 1:
                now_holder = self.lock_info(lock.environment, lock.service)
                raise LockHeld(
                    f"the deploy lock of {lock.service} in {lock.environment} was taken over"
                    + (f" by {printable(now_holder.holder)}" if now_holder else "")
                )
        return replace(lock, expires_at=expires)

    def hand_over_lock(self, lock: LockInfo, *, reason: str, ttl: float = DEFAULT_LOCK_TTL) -> LockInfo:
        """Pass a lock we hold to another process (a rollback handing its drain and retire to a detached
        finisher): same holder, so it is no take-over, but a new token and ``reason`` (naming that process) — what
        this process still does with the old token (a release on its way out) no longer touches it. LockHeld if
        it was taken from us."""
        expires = utcnow() + timedelta(seconds=ttl)
        token = uuid.uuid4().hex
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE locks SET reason = ?, expires_at = ?, token = ?"
                " WHERE environment = ? AND service = ? AND token = ?",
                (reason, _utc_text(expires), token, lock.environment, lock.service, lock.token),
            )
            if cur.rowcount != 1:
                raise LockHeld(f"the deploy lock of {lock.service} in {lock.environment} is no longer ours")
        return replace(lock, reason=reason, expires_at=expires, token=token)

    def release_lock(self, lock: LockInfo) -> bool:
        """Release a lock we hold; False when it was no longer ours."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM locks WHERE environment = ? AND service = ? AND token = ?",
                (lock.environment, lock.service, lock.token),
            )
            if cur.rowcount:
                self._insert(
                    conn,
                    LedgerEvent(
                        kind="lock.release", actor=lock.holder, environment=lock.environment, service=lock.service
                    ),
                )
            return bool(cur.rowcount)

    def for_thread(self) -> SqliteLedger:
        """Another connection to the same file, for a thread of its own (the lock heartbeat): SQLite transactions
        are per connection. A ledger in memory has no file to reopen: this very object."""
        if self.path == Path(":memory:"):
            return self
        return SqliteLedger(self.path, now=self._now)

    def force_release(self, environment: str, service: str, *, actor: str) -> LockInfo | None:
        """Remove whatever lock is held on (environment, service), recording whose it was."""
        with self._tx() as conn:
            previous = self._read_lock(conn, environment, service)
            if previous is None:
                return None
            conn.execute("DELETE FROM locks WHERE environment = ? AND service = ?", (environment, service))
            self._insert(
                conn,
                LedgerEvent(
                    kind="lock.release",
                    actor=actor,
                    environment=environment,
                    service=service,
                    details={"forced": True, "previous": previous.to_dict()},
                ),
            )
            return previous

    # rollouts ----------------------------------------------------------------------------------------

    def save_rollout(self, document: Mapping[str, Any]) -> None:
        """Insert or replace a rollout's state (never its pending request)."""
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO rollouts (id, environment, service, phase, started_at, updated_at, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET phase = excluded.phase,"
                " updated_at = excluded.updated_at, state = excluded.state",
                (
                    document["id"],
                    document["environment"],
                    document["service"],
                    document["phase"],
                    document["started_at"],
                    document["updated_at"],
                    json.dumps(document, sort_keys=True, default=str),
                ),
            )

    def load_rollout(self, rollout_id: str) -> dict[str, Any] | None:
        rows = self.read("SELECT state FROM rollouts WHERE id = ?", (rollout_id,))
        return dict(json.loads(rows[0][0])) if rows else None

    def latest_rollout(self, environment: str, service: str, phases: Sequence[str] = ()) -> dict[str, Any] | None:
        sql = "SELECT state FROM rollouts WHERE environment = ? AND service = ?"
        if phases:
            sql += f" AND phase IN ({', '.join('?' * len(phases))})"
        rows = self.read(sql + " ORDER BY started_at DESC, rowid DESC LIMIT 1", (environment, service, *phases))
        return dict(json.loads(rows[0][0])) if rows else None

    def post_request(self, rollout_id: str, request: Mapping[str, str]) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE rollouts SET request = ? WHERE id = ?", (json.dumps(dict(request)), rollout_id))

    def take_request(self, rollout_id: str) -> dict[str, str] | None:
        with self._tx() as conn:
            row = conn.execute("SELECT request FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
            if not row or not row[0]:
                return None
            conn.execute("UPDATE rollouts SET request = NULL WHERE id = ?", (rollout_id,))
            return dict(json.loads(row[0]))

    def pending_request(self, rollout_id: str) -> dict[str, str] | None:
        rows = self.read("SELECT request FROM rollouts WHERE id = ?", (rollout_id,))
        return dict(json.loads(rows[0][0])) if rows and rows[0][0] else None


def open_ledger(state_dir: Path, *, initialise: bool = False) -> SqliteLedger:
    """The ledger in ``state_dir`` (created on first use; see SqliteLedger for ``initialise``)."""
    return SqliteLedger(state_dir / "ledger.db", initialise=initialise)


EXPECTED_TABLES = ("deployment_commits", "dora_deployments", "events", "locks", "rollouts")


def check_ledger(path: Path, *, max_errors: int = 100) -> dict[str, Any]:
    """SQLite's full integrity check (every page, index and constraint) and the ledger's own schema checks,
    read-only. Returns ``{"path", "ok", "problems", "schema_version", "events", "size_bytes"}``; never raises for
    a damaged file (that is what it reports), PreconditionError when there is no file at all."""
    if not os.path.lexists(path):
        raise PreconditionError(f"there is no ledger at {path}", hint="check COURSECTL_STATE_DIR")
    if not path.is_file():
        raise PreconditionError(f"the ledger at {path} is not a regular file")
    problems: list[str] = []
    version: int | None = None
    events: int | None = None
    size = path.stat().st_size
    if size == 0:
        problems.append("the file is empty (0 bytes): no schema, no history, no locks")
    else:
        conn: sqlite3.Connection | None = None
        try:
            conn = connect_read_only(path)
            version = schema_version(conn)
            found = [str(r[0]) for r in conn.execute(f"PRAGMA integrity_check({int(max_errors)})")]
            problems.extend(line for line in found if line != "ok")
            problems.extend(
                f"foreign key: {table} row {rowid} refers to a missing row of {parent}"
                for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")
            )
            tables = set(_tables(conn))
            if version == 0:
                problems.append(
                    "no ledger schema (user_version 0)"
                    + (f"; tables: {', '.join(sorted(tables))}" if tables else "")
                )
            else:
                missing = [t for t in EXPECTED_TABLES if t not in tables]
                if missing and version >= SCHEMA_VERSION:
                    problems.append(f"tables missing: {', '.join(missing)}")
                if "events" in tables:
                    events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.Error as exc:
            problems.append(str(exc))
        finally:
            if conn is not None:
                conn.close()
    return {
        "path": str(path),
        "ok": not problems,
        "problems": problems,
        "schema_version": version,
        "events": events,
        "size_bytes": size,
    }
