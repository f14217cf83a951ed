"""The MariaDB/MySQL backup source: a consistent streamed dump per database (mariadb-dump, never a plaintext
file), the row count and CHECKSUM TABLE of every table taken in the same snapshot, and restores (into a
database, or into a scratch server for verify) that report the same figures for comparison.

How the figures match the dump: a brief global read lock (FLUSH TABLES WITH READ LOCK) is held while our own
connection opens a consistent snapshot and mariadb-dump opens its own (its first table in the output proves it
has); the lock is then released, typically after well under a second, and the counts and checksums are read in
our snapshot while the dump streams from its identical one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from coursectl.adapters import process
from coursectl.domain import RestoreRequest, RestoreResult, SourcePart
from coursectl.errors import AuthError, CoursectlError, ExternalError, PreconditionError, UsageError
from coursectl.render import mariadb as render

log = logging.getLogger(__name__)

# mariadb-dump writes its header before it starts its transaction, and these only after
_SNAPSHOT_MARKERS = (
    b"-- Table structure for table",
    b"-- Dumping routines",
    b"-- Dumping events",
    b"-- Dump completed",
    b"CREATE TABLE",
)


def part_name(database: str) -> str:
    return f"db/{database}.sql"


def database_of(part: str) -> str:
    return part.removeprefix("db/").removesuffix(".sql")


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MariaDBSource:
    """Databases on one MariaDB/MySQL server."""

    kind = "mariadb"

    def __init__(
        self,
        name: str,
        *,
        databases: Sequence[str],
        host: str = "127.0.0.1",
        port: int = 3306,
        socket: str | None = None,
        user: str = "backup",
        password: str | None = None,
        dump_command: str = "mariadb-dump",
        client_command: str = "mariadb",
        checksums: bool = True,
        lock_timeout: float = 10.0,
        timeout: float = 6 * 3600.0,
        scratch: Callable[[], AbstractContextManager[Any]] | None = None,
    ):
        self.name = name
        self.databases = list(databases)
        self.host, self.port, self.socket = host, port, socket
        self.user = user
        self._password = password
        self.dump_command, self.client_command = dump_command, client_command
        self.checksums = checksums
        self.lock_timeout = lock_timeout
        self.timeout = timeout
        self._scratch = scratch
        self._facts: dict[str, Any] = {"databases": {}}

    def __repr__(self) -> str:
        return f"MariaDBSource({self.name!r}, {self.where})"

    @property
    def where(self) -> str:
        return f"MariaDB at {self.socket}" if self.socket else f"MariaDB at {self.host}:{self.port}"

    # connections ---------------------------------------------------------------------------------------------

    def _connect(self, database: str | None = None, *, socket: str | None = None, root: bool = False) -> Any:
        import pymysql

        try:
            if root:
                return pymysql.connect(
                    unix_socket=socket,
                    user="root",
                    password="",
                    database=database,
                    autocommit=True,
                    charset="utf8mb4",
                    connect_timeout=10,
                )
            kwargs: dict[str, Any] = (
                {"unix_socket": self.socket} if self.socket else {"host": self.host, "port": self.port}
            )
            return pymysql.connect(
                user=self.user,
                password=self._password or "",
                database=database,
                autocommit=True,
                charset="utf8mb4",
                connect_timeout=10,
                **kwargs,
            )
        except pymysql.err.MySQLError as exc:
            raise self._error(exc, "connect") from exc

    def _error(self, exc: Exception, doing: str) -> CoursectlError:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        if code in (1045, 1044, 1698):
            return AuthError(
                f"{self.where}: access denied for user {self.user!r} ({doing}): {text}",
                hint="check backups.sources.<name>.user and the password reference",
            )
        if code == 1049:
            return PreconditionError(f"{self.where}: {text}")
        if code in (1227, 1142, 1143):
            return PreconditionError(
                f"{self.where}: user {self.user!r} lacks a privilege to {doing}: {text}",
                hint="GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD ON *.* TO the backup user",
            )
        if code in (2002, 2003, 2006, 2013):
            return ExternalError(f"{self.where} is unreachable ({doing}): {text}")
        return ExternalError(f"{self.where}: {doing} failed: {text}")

    def _defaults(self, *, socket: str | None = None, root: bool = False) -> int:
        if root:
            text = render.option_file(user="root", password="", socket=socket)
        else:
            text = render.option_file(
                user=self.user, password=self._password, host=self.host, port=self.port, socket=self.socket
            )
        return process.secret_pipe(text)

    # backup --------------------------------------------------------------------------------------------------

    def check(self) -> None:
        import pymysql

        process.which(self.dump_command, hint="install the Debian package mariadb-client")
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
                present = {row[0] for row in cur.fetchall()}
        except pymysql.err.MySQLError as exc:
            raise self._error(exc, "list databases") from exc
        finally:
            conn.close()
        missing = [db for db in self.databases if db not in present]
        if missing:
            raise PreconditionError(
                f"{self.where}: database {', '.join(repr(m) for m in missing)} does not exist"
                f" (backups.sources.{self.name}.databases)",
                hint="create it, or remove it from the source's databases",
                details={"missing": missing},
            )

    def dump(self) -> Iterator[SourcePart]:
        self._facts = {"databases": {}, "server": {"where": self.where}}
        for database in self.databases:
            yield SourcePart(part_name(database), self._dump_database(database), "application/sql")

    def facts(self) -> dict[str, Any]:
        return self._facts

    def _dump_database(self, database: str) -> Iterator[bytes]:
        import pymysql

        lock = self._connect()
        snap = self._connect(database)
        locked = False
        figures: dict[str, Any] = {}
        failure: list[BaseException] = []
        worker: threading.Thread | None = None
        stream: Generator[bytes, None, None] | None = None
        finished = False
        fd = self._defaults()
        try:
            try:
                with lock.cursor() as cur:
                    cur.execute(f"SET SESSION lock_wait_timeout = {max(1, int(self.lock_timeout))}")
                    cur.execute("FLUSH TABLES WITH READ LOCK")
                locked = True
                with snap.cursor() as cur:
                    cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    cur.execute("SELECT VERSION()")
                    self._facts["server"]["version"] = str(cur.fetchone()[0])
                    cur.execute(
                        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                        " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                        (database,),
                    )
                    tables = [row[0] for row in cur.fetchall()]
            except pymysql.err.MySQLError as exc:
                raise self._error(exc, "take the brief read lock and open a snapshot") from exc
            stream = process.stream_output(
                render.dump_argv(self.dump_command, f"/dev/fd/{fd}", database), timeout=self.timeout, pass_fds=[fd]
            )
            head = b""
            started = time.monotonic()
            for block in stream:
                if locked:
                    head = (head + block)[-4096:]
                    if any(marker in head for marker in _SNAPSHOT_MARKERS):
                        locked = self._unlock(lock)
                        log.info("%s: read lock held %.3f s", database, time.monotonic() - started)
                        worker = self._figures_thread(snap, database, tables, figures, failure)
                yield block
            if locked:  # the whole dump fitted in the first buffer
                locked = self._unlock(lock)
            if worker is None:
                worker = self._figures_thread(snap, database, tables, figures, failure)
            worker.join()
            if failure:
                raise failure[0]
            self._facts["databases"][database] = {"tables": figures}
            finished = True
        finally:
            if stream is not None:
                stream.close()  # an aborted dump: mariadb-dump is killed, not left to the garbage collector
            os.close(fd)
            if locked:
                self._unlock(lock)
            if worker is not None and worker.is_alive() and not finished:
                self._kill(snap)  # stop a long CHECKSUM TABLE nobody will read
            if worker is not None:
                worker.join()
            for conn in (lock, snap):
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - already gone
                    pass

    def _kill(self, conn: Any) -> None:
        try:
            victim = conn.thread_id()
            killer = self._connect()
            try:
                with killer.cursor() as cur:
                    cur.execute(f"KILL CONNECTION {int(victim)}")
            finally:
                killer.close()
        except Exception as exc:  # noqa: BLE001 - best effort; the join below waits for it otherwise
            log.warning("%s: could not stop the checksum query of an aborted dump: %s", self.where, exc)

    def _unlock(self, conn: Any) -> bool:
        try:
            with conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
        except Exception as exc:  # noqa: BLE001 - closing the connection releases it too
            log.warning("%s: UNLOCK TABLES failed (%s); closing the connection releases the lock", self.where, exc)
            conn.close()
        return False

    def _figures_thread(
        self, conn: Any, database: str, tables: list[str], into: dict[str, Any], failure: list[BaseException]
    ) -> threading.Thread:
        def work() -> None:
            try:
                into.update(self._figures(conn, database, tables))
            except BaseException as exc:  # noqa: BLE001 - handed to the streaming thread
                failure.append(exc)

        thread = threading.Thread(target=work, name=f"checksum-{database}", daemon=True)
        thread.start()
        return thread

    def _figures(self, conn: Any, database: str, tables: Sequence[str] | None = None) -> dict[str, Any]:
        """Row count and CHECKSUM TABLE of every base table, in ``conn``'s current transaction (snapshot)."""
        import pymysql

        out: dict[str, Any] = {}
        try:
            with conn.cursor() as cur:
                if tables is None:
                    cur.execute(
                        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                        " AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                        (database,),
                    )
                    tables = [row[0] for row in cur.fetchall()]
                for table in tables:
                    cur.execute(f"SELECT COUNT(*) FROM {_q(database)}.{_q(table)}")
                    rows = int(cur.fetchone()[0])
                    checksum = None
                    if self.checksums:
                        cur.execute(f"CHECKSUM TABLE {_q(database)}.{_q(table)}")
                        value = cur.fetchone()[1]
                        checksum = None if value is None else int(value)
                    out[table] = {"rows": rows, "checksum": checksum}
        except pymysql.err.MySQLError as exc:
            raise self._error(exc, f"count rows in {database}") from exc
        return out

    # restore -------------------------------------------------------------------------------------------------

    def _targets(self, parts: Sequence[str], request: RestoreRequest) -> dict[str, str]:
        """part → target database, from ``--to`` (one name for a one-database backup, or OLD=NEW pairs)."""
        databases = [database_of(p) for p in parts]
        if request.scratch:
            return {p: database_of(p) for p in parts}
        if not request.to:
            raise UsageError(
                "restore needs --to: the database to restore into (OLD=NEW for each database when"
                f" the backup holds several: {', '.join(databases)})"
            )
        mapping: dict[str, str] = {}
        if len(request.to) == 1 and "=" not in request.to[0]:
            if len(databases) != 1:
                raise UsageError(
                    f"the backup holds {len(databases)} databases ({', '.join(databases)}): "
                    "give --to OLD=NEW for each"
                )
            mapping[databases[0]] = request.to[0]
        else:
            for item in request.to:
                old, sep, new = item.partition("=")
                if not sep or old not in databases or not new:
                    raise UsageError(f"--to {item!r}: expected OLD=NEW with OLD one of {', '.join(databases)}")
                mapping[old] = new
        for new in mapping.values():
            if not all(c.isalnum() or c in "_$-" for c in new) or len(new) > 64:
                raise UsageError(f"--to: {new!r} is not a plain database name")
        return {part_name(old): new for old, new in mapping.items()}

    def describe_target(self, request: RestoreRequest, facts: Mapping[str, Any]) -> str:
        parts = [part_name(db) for db in facts.get("databases", {})]
        targets = self._targets(parts, request)
        return ", ".join(f"{database_of(p)} → database {t} on {self.where}" for p, t in targets.items())

    def _table_count(self, conn: Any, database: str) -> int | None:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
            if not cur.fetchone()[0]:
                return None
            cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
            return int(cur.fetchone()[0])

    def restore(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        parts: Sequence[str],
        facts: Mapping[str, Any],
        request: RestoreRequest,
    ) -> RestoreResult:
        if request.scratch:
            if self._scratch is None:
                raise PreconditionError("no scratch MariaDB server is configured for restore tests")
            with self._scratch() as server:
                began = time.monotonic()
                observed = self._restore_into(
                    open_part, self._targets(parts, request), socket=server.socket, force=True
                )
                seconds = time.monotonic() - began
                observed["server"] = {"version": server.version}
                return RestoreResult(
                    where=f"scratch MariaDB {server.version} (unix socket)", seconds=seconds, observed=observed
                )
        targets = self._targets(parts, request)
        began = time.monotonic()
        observed = self._restore_into(open_part, targets, socket=None, force=request.force)
        return RestoreResult(
            where=", ".join(f"{t} on {self.where}" for t in targets.values()),
            seconds=time.monotonic() - began,
            observed=observed,
        )

    def _restore_into(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        targets: Mapping[str, str],
        *,
        socket: str | None,
        force: bool,
    ) -> dict[str, Any]:
        import pymysql

        root = socket is not None
        admin = self._connect(socket=socket, root=root)
        observed: dict[str, Any] = {"databases": {}}
        try:
            for target in targets.values():  # refuse before anything is written
                tables = self._table_count(admin, target)
                if tables and not force:
                    raise PreconditionError(
                        f"database {target} on {self.where} is not empty ({tables} tables):"
                        " restoring would mix data",
                        hint="restore into another database (--to), or pass --force to replace its tables",
                    )
            for part, target in targets.items():
                try:
                    with admin.cursor() as cur:
                        cur.execute(f"CREATE DATABASE IF NOT EXISTS {_q(target)} CHARACTER SET utf8mb4")
                except pymysql.err.MySQLError as exc:
                    raise self._error(exc, f"create database {target}") from exc
                fd = self._defaults(socket=socket, root=root)
                try:
                    process.feed_input(
                        render.client_argv(self.client_command, f"/dev/fd/{fd}", target),
                        open_part(part),
                        timeout=self.timeout,
                        pass_fds=[fd],
                    )
                finally:
                    os.close(fd)
                conn = self._connect(target, socket=socket, root=root)
                try:
                    observed["databases"][database_of(part)] = {
                        "restored_as": target,
                        "tables": self._figures(conn, target),
                    }
                finally:
                    conn.close()
        finally:
            admin.close()
        return observed
