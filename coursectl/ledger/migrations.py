"""The ledger's schema as an ordered list of migrations, applied by PRAGMA user_version."""

from __future__ import annotations

import sqlite3

# Each entry moves the schema from version i to i + 1. Never edit a released entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    # 1: events and locks
    """
    CREATE TABLE events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        ts          TEXT NOT NULL,
        kind        TEXT NOT NULL,
        actor       TEXT NOT NULL,
        environment TEXT,
        service     TEXT,
        version     TEXT,
        git_commit  TEXT,
        details     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE locks (
        environment TEXT NOT NULL,
        service     TEXT NOT NULL,
        holder      TEXT NOT NULL,
        reason      TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        token       TEXT NOT NULL,
        PRIMARY KEY (environment, service)
    );
    """,
    # 2: an explicit outcome column (was inside details) and indexes for history and metrics queries
    """
    ALTER TABLE events ADD COLUMN outcome TEXT;
    UPDATE events SET outcome = json_extract(details, '$.outcome') WHERE json_valid(details);
    CREATE INDEX events_by_service ON events (service, environment, ts);
    CREATE INDEX events_by_kind ON events (kind, environment, ts);
    """,
    # 3: DORA metrics. deployment_commits: the commits each deployment brought (sha level, for export and
    #    de-duplication); dora_deployments: one row per finished deployment with its commit times packed as
    #    little-endian float64 (so metrics over 100,000 deployments and 1,000,000 commits need no JSON and no
    #    per-commit rows); natural_key: makes imports idempotent.
    """
    CREATE TABLE deployment_commits (
        event_id     INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        sha          TEXT NOT NULL,
        committed_at REAL NOT NULL,
        PRIMARY KEY (event_id, sha)
    ) WITHOUT ROWID;
    CREATE INDEX deployment_commits_by_sha ON deployment_commits (sha);
    CREATE TABLE dora_deployments (
        event_id     INTEGER PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
        environment  TEXT,
        service      TEXT,
        version      TEXT,
        git_commit   TEXT,
        status       TEXT NOT NULL,
        finished_at  REAL NOT NULL,
        hotfix       INTEGER NOT NULL DEFAULT 0,
        commit_times BLOB,
        repeated     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX dora_deployments_by_env ON dora_deployments (environment, finished_at);
    INSERT INTO dora_deployments (event_id, environment, service, version, git_commit, status, finished_at, hotfix)
        SELECT id, environment, service, version, git_commit, outcome,
               CAST(strftime('%s', ts) AS INTEGER) + CAST(substr(ts, 20, 7) AS REAL),
               COALESCE(json_extract(details, '$.hotfix'), 0)
        FROM events WHERE kind = 'deployment' AND outcome IS NOT NULL;
    ALTER TABLE events ADD COLUMN natural_key TEXT;
    CREATE UNIQUE INDEX events_by_natural_key ON events (natural_key) WHERE natural_key IS NOT NULL;
    """,
    # 4: rollout state, written before every action so that another process can resume or abort it
    """
    CREATE TABLE rollouts (
        id          TEXT PRIMARY KEY,
        environment TEXT NOT NULL,
        service     TEXT NOT NULL,
        phase       TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        request     TEXT,
        state       TEXT NOT NULL
    );
    CREATE INDEX rollouts_by_service ON rollouts (environment, service, started_at);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring the schema up to ``target``, each step in its own transaction; returns the versions applied."""
    applied: list[int] = []
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        from coursectl.errors import PreconditionError

        raise PreconditionError(
            f"the ledger's schema version {current} is newer than this coursectl understands ({SCHEMA_VERSION})",
            hint="upgrade coursectl",
        )
    for version in range(current, target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) == version:  # another process may have migrated meanwhile
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                applied.append(version + 1)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied
