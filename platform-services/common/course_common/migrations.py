"""A small schema-migration runner: ordered, recorded, applied once, serialised by a lock.

Each service lists `Migration(version, name, upgrade)`; `upgrade(conn)` runs DDL with explicit table
definitions (never the live models, so history stays replayable). Applied versions are recorded in
`schema_migrations(service, version)`, so several services may share one database. On MySQL/MariaDB a named
lock (GET_LOCK) serialises concurrent starters (e.g. a blue and a green slot); on SQLite the write lock does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

_meta = sa.MetaData()
schema_migrations = sa.Table(
    "schema_migrations", _meta,
    sa.Column("service", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[Connection], None]


class MigrationError(RuntimeError):
    """The migration list is inconsistent or a migration failed."""


def applied_versions(engine: Engine, service: str) -> list[int]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_migrations"):
            return []
        rows = conn.execute(sa.select(schema_migrations.c.version)
                            .where(schema_migrations.c.service == service)
                            .order_by(schema_migrations.c.version))
        return [r[0] for r in rows]


def migrate(engine: Engine, service: str, migrations: Sequence[Migration]) -> list[int]:
    """Apply the missing migrations in order; return the versions applied now (empty when up to date)."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise MigrationError(f"{service}: migration versions must be unique and increasing: {versions}")
    done: list[int] = []
    with engine.connect() as lock_conn:
        is_mysql = engine.dialect.name in ("mysql", "mariadb")
        if is_mysql:
            got = lock_conn.execute(sa.text("SELECT GET_LOCK(:n, 60)"), {"n": f"migrate:{service}"}).scalar()
            if got != 1:
                raise MigrationError(f"{service}: could not take the migration lock within 60 s")
        try:
            _meta.create_all(engine, checkfirst=True)
            current = set(applied_versions(engine, service))
            for migration in migrations:
                if migration.version in current:
                    continue
                with engine.begin() as conn:
                    migration.upgrade(conn)
                    conn.execute(schema_migrations.insert().values(
                        service=service, version=migration.version, name=migration.name,
                        applied_at=datetime.now(timezone.utc).replace(tzinfo=None)))
                log.info("migration applied", extra={"migration": migration.version, "migration_name": migration.name})
                done.append(migration.version)
        finally:
            if is_mysql:
                lock_conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": f"migrate:{service}"})
    return done
