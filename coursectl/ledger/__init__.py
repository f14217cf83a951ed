"""The ledger: every build, scan, deployment, rollout step, rollback and backup, and the deploy locks."""

from __future__ import annotations

from coursectl.ledger.sqlite import DEFAULT_LOCK_TTL, SqliteLedger, check_ledger, open_ledger

__all__ = ["DEFAULT_LOCK_TTL", "SqliteLedger", "check_ledger", "open_ledger"]
