"""Secret references (an environment variable or a file) and the masking of their values."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from coursectl.errors import AuthError

REDACTED = "***"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SecretRef(BaseModel):
    """A reference to a secret: ``{env: NAME}`` or ``{file: PATH}``, never the value itself.

    An ``env`` reference that is not set in the process environment is looked up in the state directory's
    ``secrets.env`` (written by ``coursectl sandbox up`` for the registry credentials).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_values(cls, data: object) -> object:
        if isinstance(data, str):
            raise ValueError(
                "secrets are never written in the configuration: use a reference {env: VARIABLE} or {file: PATH}"
            )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of 'env' or 'file'")
        if self.env is not None and not _ENV_NAME.match(self.env):
            raise ValueError(f"{self.env!r} is not a valid environment variable name")
        return self

    def describe(self) -> str:
        """Where the secret comes from, safe to print."""
        return f"env:{self.env}" if self.env else f"file:{self.file}"

    def resolve(self, *, environ: Mapping[str, str] | None = None, secrets_file: Path | None = None) -> str:
        """The secret's value; AuthError naming the reference when it is not available."""
        env = os.environ if environ is None else environ
        if self.env:
            if self.env in env:
                return env[self.env]
            if secrets_file is not None:
                stored = read_dotenv(secrets_file)
                if self.env in stored:
                    return stored[self.env]
            raise AuthError(
                f"secret {self.describe()} is not set",
                hint=f"export {self.env}=... (or run 'coursectl sandbox up' for the sandbox registry)",
            )
        from coursectl.textfile import UnreadableText, read_text

        path = Path(self.file or "").expanduser()
        try:
            return read_text(path, limit=MAX_SECRET_BYTES).rstrip("\n")
        except UnreadableText as exc:  # never quote the file: it holds a secret
            raise AuthError(f"secret {self.describe()} {exc.message}") from None


MAX_SECRET_BYTES = 64 * 1024


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a simple ``KEY=VALUE`` file (comments and blank lines ignored); missing file → empty; AuthError
    (exit 4) naming the file when it cannot be read as text."""
    from coursectl.textfile import MIB, UnreadableText, read_text

    if not os.path.lexists(path):
        return {}
    try:
        text = read_text(path, limit=MIB)
    except UnreadableText as exc:
        raise AuthError(
            f"{path} {exc.message}" + (f" ({exc.where})" if exc.where else ""),
            hint="it holds KEY=VALUE lines in UTF-8 (coursectl sandbox up writes it)",
        ) from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


class SecretMasker(logging.Filter):
    """A logging filter (and plain helper) that replaces known secret values with ``***``."""

    def __init__(self, values: Iterable[str] = ()):
        super().__init__()
        self._values: set[str] = {v for v in values if v and len(v) >= 4}

    def add(self, value: str) -> None:
        if value and len(value) >= 4:
            self._values.add(value)

    def mask(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._values:
            record.msg = self.mask(record.getMessage())
            record.args = None
        return True
