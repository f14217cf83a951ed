"""The ignore file (``.coursectl-ignore.yaml``): entries with a reason and an expiry, validated by index."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from coursectl.errors import ConfigError, ConfigProblem

EXAMPLE = """\
ignores:
  - id: CVE-2019-1549          # or SNYK-..., DS-0002, a secret rule id
    package: openssl           # optional: only this package
    service: user              # optional: only this service
    reason: not reachable, tracked in TICKET-12
    expires: 2026-12-31        # required; from the next day on the entry stops ignoring
"""


@dataclass(frozen=True)
class IgnoreEntry:
    """One accepted risk: which finding, why, and until when."""

    id: str
    reason: str
    expires: date
    package: str | None = None
    service: str | None = None
    index: int = 0

    def expired(self, today: date) -> bool:
        """An entry is valid through its expiry date and expired from the next day on."""
        return today > self.expires

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "package": self.package,
            "service": self.service,
            "reason": self.reason,
            "expires": self.expires.isoformat(),
        }


_KEYS = {"id", "package", "service", "reason", "expires"}


def _entry(raw: Any, index: int, file: str) -> tuple[IgnoreEntry | None, list[ConfigProblem]]:
    where = f"ignores.{index}"
    if not isinstance(raw, dict):
        return None, [ConfigProblem(file, where, "expected a mapping with id, reason and expires")]
    problems = [ConfigProblem(file, f"{where}.{k}", "unknown key") for k in raw if k not in _KEYS]
    values: dict[str, Any] = {}
    for key in ("id", "reason"):
        value = raw.get(key)
        if not isinstance(value, str | int) or not str(value).strip():
            problems.append(ConfigProblem(file, f"{where}.{key}", "required: a non-empty text"))
        else:
            values[key] = str(value).strip()
    for key in ("package", "service"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(ConfigProblem(file, f"{where}.{key}", "expected a non-empty text"))
        elif value is not None:
            values[key] = value.strip()
    expires = raw.get("expires")
    if isinstance(expires, date):
        values["expires"] = expires
    elif isinstance(expires, str):
        try:
            values["expires"] = date.fromisoformat(expires.strip()[:10])
        except ValueError:
            problems.append(
                ConfigProblem(file, f"{where}.expires", f"expected a date YYYY-MM-DD, got {expires!r}")
            )
    else:
        problems.append(ConfigProblem(file, f"{where}.expires", "required: an expiry date YYYY-MM-DD"))
    if problems:
        return None, problems
    return IgnoreEntry(index=index, **values), []


def parse_ignores(text: str, file: str = ".coursectl-ignore.yaml") -> list[IgnoreEntry]:
    """Entries of an ignore file's text; ConfigError naming the file and each bad entry's index."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([ConfigProblem(file, where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if data is None:
        return []
    if isinstance(data, dict):
        unknown = [k for k in data if k != "ignores"]
        if unknown:
            raise ConfigError(
                [ConfigProblem(file, str(k), "unknown key; expected 'ignores'") for k in unknown],
                hint="the file looks like:\n" + EXAMPLE,
            )
        data = data.get("ignores") or []
    if not isinstance(data, list):
        raise ConfigError([ConfigProblem(file, "ignores", "expected a list of entries")], hint=EXAMPLE)
    entries: list[IgnoreEntry] = []
    problems: list[ConfigProblem] = []
    for index, raw in enumerate(data):
        entry, bad = _entry(raw, index, file)
        problems.extend(bad)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise ConfigError(problems, hint="each entry needs id, reason and expires; e.g.\n" + EXAMPLE)
    return entries


def load_ignores(path: Path) -> list[IgnoreEntry]:
    """Entries of the ignore file at ``path``; a missing file means no entries."""
    from coursectl.textfile import MIB, UnreadableText, read_text

    if not os.path.lexists(path):
        return []
    try:
        text = read_text(path, limit=MIB)
    except UnreadableText as exc:
        raise ConfigError([ConfigProblem(str(path), exc.where, exc.message)]) from None
    return parse_ignores(text, str(path))
