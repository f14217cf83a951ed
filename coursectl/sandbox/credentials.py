"""The sandbox registry's generated credentials, kept in ``<state_dir>/secrets.env`` (dotenv, 0600)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coursectl.paths import write_private

SECRETS_FILE = "secrets.env"
USER_KEY = "REGISTRY_USER"
PASSWORD_KEY = "REGISTRY_PASSWORD"
PLATFORM_ADMIN_KEY = "PLATFORM_ADMIN_PASSWORD"  # the sandbox platform's admin (user service ADMIN_PASSWORD)

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class Credentials:
    """A user name and password for the sandbox registry."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"

    def auth_config(self) -> dict[str, str]:
        """The mapping the docker SDK takes as ``auth_config`` for push and pull."""
        return {"username": self.username, "password": self.password}


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        return inner.replace('\\"', '"').replace("\\\\", "\\") if raw[0] == '"' else inner
    return raw.split(" #", 1)[0].rstrip()


def parse_dotenv(text: str) -> dict[str, str]:
    """The ``KEY=value`` pairs of a dotenv text; comments, blank and malformed lines are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            out[match.group(1)] = _unquote(match.group(2))
    return out


def _format_value(value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_./:@+-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def merge_dotenv(text: str, updates: Mapping[str, str]) -> str:
    """``text`` with each key of ``updates`` set: replaced in place where present, appended otherwise.

    Every other line (comments, other keys, blank lines) is kept exactly as it was.
    """
    pending = dict(updates)
    lines: list[str] = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and not line.lstrip().startswith("#") and match.group(1) in updates:
            key = match.group(1)
            if key in pending:
                lines.append(f"{key}={_format_value(pending.pop(key))}")
            continue  # a duplicate of a key already written: drop it
        lines.append(line)
    lines.extend(f"{key}={_format_value(value)}" for key, value in pending.items())
    return "\n".join(lines) + "\n"


def read_secrets(state_dir: Path) -> dict[str, str]:
    """The pairs stored in ``<state_dir>/secrets.env`` (empty when the file does not exist)."""
    path = state_dir / SECRETS_FILE
    return parse_dotenv(path.read_text(encoding="utf-8")) if path.exists() else {}


def ensure_credentials(state_dir: Path, username: str) -> tuple[Credentials, bool]:
    """The registry credentials, generated and stored the first time; returns them and whether they are new.

    An existing password is kept; a different configured user name is written over the stored one.
    """
    path = state_dir / SECRETS_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = parse_dotenv(text)
    password = current.get(PASSWORD_KEY) or ""
    if password and current.get(USER_KEY) == username:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return Credentials(username, password), False
    password = password or secrets.token_urlsafe(24)
    write_private(path, merge_dotenv(text, {USER_KEY: username, PASSWORD_KEY: password}))
    return Credentials(username, password), True


def ensure_secret(state_dir: Path, key: str) -> tuple[str, bool]:
    """A generated secret stored under ``key`` in secrets.env (kept once made); the value and whether it is new."""
    path = state_dir / SECRETS_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    value = parse_dotenv(text).get(key) or ""
    if value:
        return value, False
    value = secrets.token_urlsafe(24)
    write_private(path, merge_dotenv(text, {key: value}))
    return value, True
