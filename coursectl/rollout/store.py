"""Persist rollout state and operator requests (pause, resume, promote, abort) in the ledger database."""

from __future__ import annotations

import json
from typing import Any

from coursectl.domain import LedgerEvent, utcnow
from coursectl.rollout.state import ACTIVE, RolloutState

REQUESTS = ("pause", "abort", "promote", "promote-full")


def _now() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


class RolloutStore:
    """Rollout rows in the ledger (table ``rollouts``) plus the events every step records.

    ``save`` never touches the ``request`` column, so a request written by another process between two
    saves is not lost; the engine takes it with ``take_request``.
    """

    def __init__(self, ledger: Any, *, now: Any = None):
        self.ledger = ledger
        self._now = now or _now

    def save(self, state: RolloutState) -> None:
        state.updated_at = self._now()
        if not state.started_at:
            state.started_at = state.updated_at
        with self.ledger.transaction() as conn:
            conn.execute(
                "INSERT INTO rollouts (id, environment, service, phase, started_at, updated_at, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET phase = excluded.phase,"
                " updated_at = excluded.updated_at, state = excluded.state",
                (
                    state.id,
                    state.environment,
                    state.service,
                    state.phase,
                    state.started_at,
                    state.updated_at,
                    json.dumps(state.to_dict(), sort_keys=True, default=str),
                ),
            )

    def load(self, rollout_id: str) -> RolloutState | None:
        rows = self.ledger.read("SELECT state FROM rollouts WHERE id = ?", (rollout_id,))
        return RolloutState.from_dict(json.loads(rows[0][0])) if rows else None

    def latest(self, environment: str, service: str) -> RolloutState | None:
        rows = self.ledger.read(
            "SELECT state FROM rollouts WHERE environment = ? AND service = ? ORDER BY started_at DESC, rowid DESC"
            " LIMIT 1",
            (environment, service),
        )
        return RolloutState.from_dict(json.loads(rows[0][0])) if rows else None

    def active(self, environment: str, service: str) -> RolloutState | None:
        """The unfinished rollout of a service, if any."""
        marks = ", ".join("?" * len(ACTIVE))
        rows = self.ledger.read(
            f"SELECT state FROM rollouts WHERE environment = ? AND service = ? AND phase IN ({marks})"
            " ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (environment, service, *ACTIVE),
        )
        return RolloutState.from_dict(json.loads(rows[0][0])) if rows else None

    def post_request(self, rollout_id: str, request: str, actor: str) -> None:
        if request not in REQUESTS:
            raise ValueError(f"unknown request {request!r}")
        with self.ledger.transaction() as conn:
            conn.execute(
                "UPDATE rollouts SET request = ? WHERE id = ?",
                (json.dumps({"do": request, "actor": actor}), rollout_id),
            )

    def take_request(self, rollout_id: str) -> dict[str, str] | None:
        with self.ledger.transaction() as conn:
            row = conn.execute("SELECT request FROM rollouts WHERE id = ?", (rollout_id,)).fetchone()
            if not row or not row[0]:
                return None
            conn.execute("UPDATE rollouts SET request = NULL WHERE id = ?", (rollout_id,))
            return dict(json.loads(row[0]))

    def pending_request(self, rollout_id: str) -> dict[str, str] | None:
        rows = self.ledger.read("SELECT request FROM rollouts WHERE id = ?", (rollout_id,))
        return dict(json.loads(rows[0][0])) if rows and rows[0][0] else None

    def event(
        self,
        kind: str,
        state: RolloutState,
        *,
        actor: str | None = None,
        outcome: str | None = None,
        version: str | None = None,
        git_commit: str | None = None,
        time: Any = None,
        **details: Any,
    ) -> LedgerEvent:
        """Record one ledger event about ``state`` (rollout_id always in the details)."""
        event = LedgerEvent(
            kind=kind,
            actor=actor or state.actor or "coursectl",
            environment=state.environment,
            service=state.service,
            version=version or state.version,
            git_commit=git_commit,
            outcome=outcome,
            details={"rollout_id": state.id, **details},
            **({"time": time} if time is not None else {}),
        )
        recorded: LedgerEvent = self.ledger.record(event)
        return recorded
