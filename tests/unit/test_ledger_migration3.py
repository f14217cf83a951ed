"""Migration 3 (deployment commits, natural keys) applies to a ledger made by an older coursectl."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from coursectl.domain import LedgerEvent
from coursectl.ledger import SqliteLedger
from coursectl.ledger.sqlite import unpack_times
from coursectl.ledger.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version


def test_old_ledger_is_migrated_and_keeps_its_events(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=2) == [1, 2]
    conn.execute(
        "INSERT INTO events (ts, kind, actor, environment, service, version, git_commit, outcome, details)"
        " VALUES ('2026-01-01T00:00:00.000000Z', 'deployment', 'old', 'prod', 'payment', '1', 'abcd', 'succeeded',"
        " ?)", (json.dumps({"started_at": "2025-12-31T23:59:00Z", "commits": [{"sha": "abcd", "committed_at": 1}]}),))
    conn.close()

    with SqliteLedger(path) as ledger:
        assert schema_version(ledger._conn) == SCHEMA_VERSION == len(MIGRATIONS)
        (old,) = ledger.events()
        assert old.actor == "old" and old.details["started_at"] == "2025-12-31T23:59:00Z"
        rows = ledger.deployment_rows("prod")
        # projected by the migration; its commits (inside the old details JSON) are not listed: git is used
        assert rows == [(old.id, "payment", "prod", "1", "abcd", "succeeded", 1767225600.0, 0, None, 0)]
        # new deployments keep their commits in the commits table, and get a natural key
        new = ledger.record(LedgerEvent(kind="deployment", actor="x", environment="prod", service="payment",
                                        version="2", git_commit="beef", outcome="succeeded",
                                        details={"started_at": "2026-01-02T00:00:00Z",
                                                 "commits": [{"sha": "beef", "committed_at": "2026-01-01T12:00:00Z"}]}))
        assert new.id is not None
        assert ledger.deployment_commits(new.id) == [{"sha": "beef", "committed_at": "2026-01-01T12:00:00Z"}]
        assert ledger.events(limit=1)[0].details == {"started_at": "2026-01-02T00:00:00Z", "commit_count": 1}
        assert ledger.import_events([new]) == (0, 1)
        row = ledger.deployment_rows("prod")[1]
        assert unpack_times(row[8]) == (1767268800.0,) and row[9] == 0
        # a third deployment listing the same commit flags both as sharing commits
        ledger.record(LedgerEvent(kind="deployment", actor="x", environment="prod", service="payment",
                                  version="3", outcome="succeeded",
                                  details={"commits": [{"sha": "beef", "committed_at": "2026-01-01T12:00:00Z"}]}))
        assert [r[-1] for r in ledger.deployment_rows("prod")] == [0, 1, 1]
