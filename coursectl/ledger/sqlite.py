"""The SQLite ledger: append and query events, and hold deploy locks, in one WAL database."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import struct
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coursectl.domain import LedgerEvent, LockInfo, utcnow
from coursectl.errors import ExternalError, LockHeld, PreconditionError
from coursectl.ledger.migrations import migrate

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
        parts = [event.environment, event.service, event.details.get("from_version"),
                 event.details.get("to_version"), started_text, finished]
    return event.kind + "|" + "|".join("" if p is None else str(p) for p in parts)


class SqliteLedger:
    """The ledger in a SQLite file (WAL mode, schema migrated on open).

    Safe for several processes at once: every write is a short IMMEDIATE transaction.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 10.0):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise PreconditionError(
                f"the ledger at {path} cannot be opened: {exc}",
                hint="check the file (COURSECTL_STATE_DIR) or restore it from a backup",
            ) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ExternalError(f"the ledger at {self.path} is busy: {exc}") from exc
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A short IMMEDIATE transaction on the ledger database, for stores that keep their own tables."""
        return self._tx()

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query (outside any transaction)."""
        return self._conn.execute(sql, args).fetchall()

    # events ------------------------------------------------------------------------------------------

    def record(self, event: LedgerEvent) -> LedgerEvent:
        """Append ``event``; returns it with its id."""
        with self._tx() as conn:
            return self._insert(conn, event)

    @staticmethod
    def _insert(conn: sqlite3.Connection, event: LedgerEvent, *, key: str | None = None) -> LedgerEvent:
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
        conn: sqlite3.Connection, event: LedgerEvent, event_id: int, details: dict[str, Any],
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
                    r[0] for r in conn.execute(
                        f"SELECT DISTINCT event_id FROM deployment_commits WHERE sha IN ({','.join('?' * len(chunk))})",
                        chunk,
                    )
                )
            if earlier:
                repeated = 1
                conn.executemany("UPDATE dora_deployments SET repeated = 1 WHERE event_id = ?",
                                 [(i,) for i in earlier])
            conn.executemany(
                "INSERT OR IGNORE INTO deployment_commits (event_id, sha, committed_at) VALUES (?, ?, ?)", rows
            )
        conn.execute(
            "INSERT INTO dora_deployments (event_id, environment, service, version, git_commit, status, finished_at,"
            " hotfix, commit_times, repeated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event_id, event.environment, event.service, event.version, event.git_commit, event.outcome,
             event.time.timestamp(), 1 if details.get("hotfix") else 0, blob, repeated),
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
        """Every deployment of ``environment`` (and ``service``, with one of ``statuses``), oldest first, as tuples:
        (id, service, environment, version, git_commit, status, finished_at as Unix seconds, hotfix,
        packed commit times or None, commits also listed by another deployment)."""
        sql = ("SELECT event_id, service, environment, version, git_commit, status, finished_at, hotfix,"
               " commit_times, repeated FROM dora_deployments WHERE 1 = 1")
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

    def rollback_rows(
        self, environment: str | None, service: str | None = None
    ) -> list[tuple[Any, ...]]:
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
        where, args = [], []  # type: ignore[var-annotated]
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
    def _read_lock(cls, conn: sqlite3.Connection, environment: str, service: str) -> LockInfo | None:
        row = conn.execute(_SELECT_LOCKS + " WHERE environment = ? AND service = ?", (environment, service)).fetchone()
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
        now = utcnow()
        with self._tx() as conn:
            previous = self._read_lock(conn, environment, service)
            if previous and not previous.expired(now) and not take_over:
                raise LockHeld(
                    f"the deploy lock of {service} in {environment} is held by {previous.holder}"
                    f" since {previous.acquired_at:%Y-%m-%d %H:%M:%S} UTC: {previous.reason}",
                    hint=f"wait (--lock-wait SECONDS) or, if it is abandoned, it expires at"
                    f" {previous.expires_at:%H:%M:%S} UTC",
                    details=previous.to_dict(),
                )
            info = LockInfo(
                environment, service, holder, reason, now, now + timedelta(seconds=ttl), uuid.uuid4().hex
            )
            conn.execute(
                "INSERT OR REPLACE INTO locks (environment, service, holder, reason, acquired_at, expires_at, token)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (environment, service, holder, reason, _utc_text(now), _utc_text(info.expires_at), info.token),
            )
            kind = "lock.takeover" if previous else "lock.acquire"
            details: dict[str, Any] = {"reason": reason, "expires_at": _utc_text(info.expires_at)}
            if previous:
                details["previous"] = previous.to_dict()
                details["previous_expired"] = previous.expired(now)
            self._insert(
                conn, LedgerEvent(kind=kind, actor=holder, environment=environment, service=service, details=details)
            )
            return info

    def refresh_lock(self, lock: LockInfo, ttl: float = DEFAULT_LOCK_TTL) -> LockInfo:
        """Push the expiry of a lock we hold (the heartbeat); LockHeld if it was taken from us."""
        expires = utcnow() + timedelta(seconds=ttl)
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE locks SET expires_at = ? WHERE environment = ? AND service = ? AND token = ?",
                (_utc_text(expires), lock.environment, lock.service, lock.token),
            )
            if cur.rowcount != 1:
                now_holder = self.lock_info(lock.environment, lock.service)
                raise LockHeld(
                    f"the deploy lock of {lock.service} in {lock.environment} was taken over"
                    + (f" by {now_holder.holder}" if now_holder else "")
                )
        return replace(lock, expires_at=expires)

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


def open_ledger(state_dir: Path) -> SqliteLedger:
    """The ledger in ``state_dir`` (created on first use)."""
    return SqliteLedger(state_dir / "ledger.db")
