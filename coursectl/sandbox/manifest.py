"""The sandbox manifest ``<state_dir>/sandbox/sandbox.json``: what the sandbox started, with pids."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coursectl.errors import PreconditionError

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Entry:
    """One component as recorded: our daemon (pid + start time) or an external one (no pid)."""

    address: str
    started_by_us: bool
    pid: int | None = None
    starttime: int | None = None
    log: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Entry:
        return cls(
            address=str(raw.get("address", "")),
            started_by_us=bool(raw.get("started_by_us", False)),
            pid=int(raw["pid"]) if raw.get("pid") else None,
            starttime=int(raw["starttime"]) if raw.get("starttime") is not None else None,
            log=raw.get("log"),
            extra=dict(raw.get("extra") or {}),
        )


@dataclass
class Manifest:
    """Entries by component name, loaded from and saved to one JSON file."""

    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest at ``path``; an absent file is an empty manifest, a corrupt one an error."""
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = {name: Entry.from_dict(value) for name, value in raw.get("components", {}).items()}
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise PreconditionError(
                f"sandbox manifest {path} is unreadable: {exc}",
                hint="stop leftover daemons by hand, then delete the file and run `coursectl sandbox up`",
            ) from exc
        return cls(path, entries)

    def to_dict(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "components": {k: asdict(v) for k, v in sorted(self.entries.items())}}

    def save(self) -> None:
        """Write the manifest atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def get(self, name: str) -> Entry | None:
        return self.entries.get(name)

    def set(self, name: str, entry: Entry) -> None:
        """Record ``entry`` for ``name`` and save at once (so a crash never loses a started pid)."""
        self.entries[name] = entry
        self.save()

    def drop(self, name: str) -> None:
        """Forget ``name`` and save."""
        if self.entries.pop(name, None) is not None:
            self.save()

    def stale(self, is_alive: Callable[[int, int | None], bool]) -> list[str]:
        """Names of entries we started whose process is gone."""
        return [
            name
            for name, entry in sorted(self.entries.items())
            if entry.started_by_us and entry.pid is not None and not is_alive(entry.pid, entry.starttime)
        ]
