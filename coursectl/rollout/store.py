"""The ledger's rollouts as RolloutState objects (through the RolloutStore port), with the events steps record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from coursectl import ports
from coursectl.domain import LedgerEvent, utcnow
from coursectl.errors import PreconditionError
from coursectl.rollout.state import ACTIVE, RolloutState
from coursectl.rollout.steps import StepError

REQUESTS = ("pause", "abort", "promote", "promote-full")


def _now() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


class Rollouts:
    """The rollouts of one ledger as ``RolloutState``, and the ledger events about them.

    ``save`` never touches a pending request, so a request written by another process between two saves is
    not lost; the engine takes it with ``take_request``.
    """

    def __init__(
        self, ledger: ports.Ledger, rows: ports.RolloutStore | None = None, *, now: Callable[[], str] | None = None
    ):
        if rows is None:  # the ledger keeps the rollouts too (the SQLite ledger does)
            if not isinstance(ledger, ports.RolloutStore):
                raise TypeError(f"{type(ledger).__name__} keeps no rollouts: pass rows=")
            rows = ledger
        self.ledger = ledger
        self.rows = rows
        self._now = now or _now

    def save(self, state: RolloutState) -> None:
        state.updated_at = self._now()
        if not state.started_at:
            state.started_at = state.updated_at
        self.rows.save_rollout(state.to_dict())

    def load(self, rollout_id: str) -> RolloutState | None:
        return self._state(self.rows.load_rollout(rollout_id))

    def latest(self, environment: str, service: str) -> RolloutState | None:
        return self._state(self.rows.latest_rollout(environment, service))

    def active(self, environment: str, service: str) -> RolloutState | None:
        """The unfinished rollout of a service, if any."""
        return self._state(self.rows.latest_rollout(environment, service, ACTIVE))

    @staticmethod
    def _state(document: dict[str, Any] | None) -> RolloutState | None:
        if document is None:
            return None
        try:
            return RolloutState.from_dict(document)
        except StepError as exc:
            raise PreconditionError(
                f"rollout {document.get('id')} of {document.get('service')} in the ledger cannot be read: {exc}",
                hint="a newer coursectl wrote it: use that version to resume, abort or inspect it",
            ) from exc

    def post_request(self, rollout_id: str, request: str, actor: str) -> None:
        if request not in REQUESTS:
            raise ValueError(f"unknown request {request!r}")
        self.rows.post_request(rollout_id, {"do": request, "actor": actor})

    def take_request(self, rollout_id: str) -> dict[str, str] | None:
        return self.rows.take_request(rollout_id)

    def pending_request(self, rollout_id: str) -> dict[str, str] | None:
        return self.rows.pending_request(rollout_id)

    def event(
        self,
        kind: str,
        state: RolloutState,
        *,
        actor: str | None = None,
        outcome: str | None = None,
        version: str | None = None,
        git_commit: str | None = None,
        time: datetime | None = None,
        **details: Any,
    ) -> LedgerEvent:
        """Record one ledger event about ``state`` (rollout_id always in the details)."""
        when: dict[str, Any] = {"time": time} if time is not None else {}
        event = LedgerEvent(
            kind=kind,
            actor=actor or state.actor or "coursectl",
            environment=state.environment,
            service=state.service,
            version=version or state.version,
            git_commit=git_commit,
            outcome=outcome,
            details={"rollout_id": state.id, **details},
            **when,
        )
        return self.ledger.record(event)


# the name of ``Rollouts`` before issue 14, which tests still use (the port of that name: ports.RolloutStore)
RolloutStore = Rollouts
