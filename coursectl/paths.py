"""Where coursectl keeps its state: the ledger, the sandbox, generated secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The state directory: ``$COURSECTL_STATE_DIR``, else ``$XDG_STATE_HOME/coursectl``, else ~/.local/state."""
    env = os.environ if environ is None else environ
    explicit = env.get("COURSECTL_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path(env.get("HOME", "~")).expanduser() / ".local" / "state"
    return base / "coursectl"


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) if needed, private to the user, and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable only by the owner (0600), atomically."""
    ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
