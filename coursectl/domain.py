"""Frozen value types shared by every layer: ledger events, lock records and the actor."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EVENT_KINDS = (
    "build",
    "scan",
    "gate",
    "push",
    "deployment",
    "rollout.step",
    "rollout.measurement",
    "rollout.promote",
    "rollout.abort",
    "rollback",
    "backup",
    "lock.acquire",
    "lock.release",
    "lock.takeover",
    "release",
    "interrupted",
)


def utcnow() -> datetime:
    """The current time in UTC (aware)."""
    return datetime.now(UTC)


def current_actor(environ: Mapping[str, str] | None = None) -> str:
    """Who is acting: ``COURSECTL_ACTOR``, else the Jenkins build, else ``user@host``."""
    env = os.environ if environ is None else environ
    if env.get("COURSECTL_ACTOR"):
        return env["COURSECTL_ACTOR"]
    if env.get("BUILD_TAG"):
        return f"jenkins:{env['BUILD_TAG']}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class LedgerEvent:
    """One recorded fact: something coursectl did or saw, with who, when, where and what."""

    kind: str
    actor: str
    environment: str | None = None
    service: str | None = None
    version: str | None = None
    git_commit: str | None = None
    outcome: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=utcnow)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "actor": self.actor,
            "environment": self.environment,
            "service": self.service,
            "version": self.version,
            "git_commit": self.git_commit,
            "outcome": self.outcome,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class LockInfo:
    """Who holds the deploy lock of an (environment, service), why, and until when."""

    environment: str
    service: str
    holder: str
    reason: str
    acquired_at: datetime
    expires_at: datetime
    token: str

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "service": self.service,
            "holder": self.holder,
            "reason": self.reason,
            "acquired_at": self.acquired_at.isoformat().replace("+00:00", "Z"),
            "expires_at": self.expires_at.isoformat().replace("+00:00", "Z"),
        }
