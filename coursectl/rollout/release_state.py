"""A multi-service release as a ledger entity: its waves, each service's state, and its store in the ledger.

Each change of a release is recorded as a ``release.state`` event whose details hold the whole entity, so the
newest such event of a release is its state: another process (``release resume|abort`` after a kill -9) reads
it from the ledger alone, and ``history`` shows how it went.

Release phases: ``rolling-out`` → (``succeeded`` | ``paused`` | ``failed`` (keep) | ``rolling-back`` →
``rolled-back``); ``release abort``: ``aborting`` → ``aborted``. Service states: ``pending``, ``rolling``,
``promoted``, ``unchanged``, ``paused``, ``failed`` (its own rollout was aborted), ``aborted`` (stopped by
the release because another failed), ``skipped`` (never started), ``rolling-back``, ``rolled-back``,
``rollback-failed``, ``kept``.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from coursectl.domain import LedgerEvent, utcnow

KIND = "release.state"
REQUEST_KIND = "release.request"  # another process asks the running release to do something (abort)
ACTIVE_PHASES = ("rolling-out", "rolling-back", "aborting", "paused")
FINAL_PHASES = ("succeeded", "failed", "rolled-back", "aborted")


def stamp() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


def new_id() -> str:
    return "rel-" + utcnow().strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]


@dataclass
class ServiceEntry:
    """One service of a release: what it goes to, from what, and how far it got."""

    service: str
    wave: int
    version: str
    digest: str | None = None
    from_version: str | None = None
    state: str = "pending"
    rollout_id: str | None = None
    message: str = ""
    step: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    warm_slot: str | None = None  # the old colour, still running unrouted until the release retires it

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceEntry:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ReleaseState:
    """The release entity (see the module docstring)."""

    id: str
    environment: str
    actor: str
    waves: list[list[str]]
    services: dict[str, ServiceEntry]
    on_failure: str = "keep"
    parallel: int = 1
    phase: str = "rolling-out"
    message: str = ""
    set_env: dict[str, str] = field(default_factory=dict)
    load: dict[str, Any] | None = None
    keep_old_warm: bool = True  # blue-green old colours retired once the release is good (release.keep_old_warm)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    started_at: str = field(default_factory=stamp)
    updated_at: str = ""
    finished_at: str | None = None

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    def entry(self, service: str) -> ServiceEntry:
        return self.services[service]

    def in_state(self, *states: str) -> list[str]:
        """Services in any of ``states``, in wave order."""
        return [name for wave in self.waves for name in wave if self.services[name].state in states]

    def owner_alive(self) -> bool:
        """Whether the process that runs this release still runs (on this host; elsewhere: assumed alive)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a zombie is not alive
            with open(f"/proc/{self.pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["services"] = {name: asdict(e) for name, e in self.services.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseState:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["services"] = {n: ServiceEntry.from_dict(e) for n, e in data.get("services", {}).items()}
        values["waves"] = [list(w) for w in data.get("waves", [])]
        return cls(**values)

    def summary(self) -> dict[str, Any]:
        """The entity as the command line prints it."""
        return {
            "id": self.id,
            "environment": self.environment,
            "phase": self.phase,
            "message": self.message,
            "on_failure": self.on_failure,
            "parallel": self.parallel,
            "actor": self.actor,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "waves": [
                [
                    {
                        k: v
                        for k, v in asdict(self.services[name]).items()
                        if k not in ("wave", "started_at", "finished_at")
                    }
                    for name in wave
                ]
                for wave in self.waves
            ],
            "load": self.load,
        }


class ReleaseStore:
    """Release entities as ``release.state`` events in the ledger (the newest event of an id is its state)."""

    def __init__(self, ledger: Any):
        self.ledger = ledger

    def save(self, release: ReleaseState) -> None:
        release.updated_at = stamp()
        self.ledger.record(
            LedgerEvent(
                kind=KIND,
                actor=release.actor,
                environment=release.environment,
                outcome=release.phase,
                details=release.to_dict(),
            )
        )

    def request(self, release: ReleaseState, what: str, actor: str) -> None:
        """Ask the process running ``release`` to ``what`` (``abort``); it looks between its steps."""
        self.ledger.record(
            LedgerEvent(
                kind=REQUEST_KIND,
                actor=actor,
                environment=release.environment,
                outcome=what,
                details={"id": release.id, "what": what},
            )
        )

    def requested(self, release: ReleaseState) -> LedgerEvent | None:
        """The newest request made to ``release`` (None: none)."""
        for event in self.ledger.events(environment=release.environment, kinds=[REQUEST_KIND], limit=50):
            if event.details.get("id") == release.id:
                return event  # type: ignore[no-any-return]
        return None

    def _all(self, environment: str | None, limit: int) -> list[ReleaseState]:
        events = self.ledger.events(environment=environment, kinds=[KIND], limit=limit)
        seen: dict[str, ReleaseState] = {}
        for event in events:  # newest first: the first event of an id is its state
            rid = str(event.details.get("id", ""))
            if rid and rid not in seen:
                seen[rid] = ReleaseState.from_dict(dict(event.details))
        return list(seen.values())

    def load(self, release_id: str, environment: str | None = None) -> ReleaseState | None:
        for release in self._all(environment, 5000):
            if release.id == release_id:
                return release
        return None

    def latest(self, environment: str) -> ReleaseState | None:
        found = self._all(environment, 1)
        return found[0] if found else None

    def active(self, environment: str) -> ReleaseState | None:
        """The newest release of ``environment`` when it has not finished."""
        latest = self.latest(environment)
        return latest if latest is not None and latest.active else None

    def recent(self, environment: str | None, limit: int = 20) -> list[ReleaseState]:
        """The newest releases, newest first."""
        return sorted(self._all(environment, 50 * limit), key=lambda r: r.started_at, reverse=True)[:limit]
