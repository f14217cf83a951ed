"""The resolved configuration as plain data with every secret shown as ***."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from coursectl.config.secrets import REDACTED, SecretRef, read_dotenv
from coursectl.errors import CoursectlError

_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s\"'<>]*:)(?P<secret>[^\s\"'<>/]+)(?P<tail>@)", re.I
)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|token|access_token|api_key|apikey|secret|client_secret|sig)=)"
    r"(?P<secret>[^&;#\s\"'<>]+)",
    re.I,
)


def mask_url_passwords(text: str) -> str:
    """``amqp://user:pw@host`` → ``amqp://user:***@host``; ``?token=abc`` → ``?token=***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}{m['tail']}", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{REDACTED}", text)


def redact_text(text: str) -> str:
    """The one redaction of everything coursectl prints or writes: credentials in URLs are masked."""
    return mask_url_passwords(text)


def redacted(value: Any, *, secrets_file: Path | None = None, environ: dict[str, str] | None = None) -> Any:
    """A JSON-able copy of a configuration model where secret references never show a value."""
    import os

    from pydantic import BaseModel

    env = os.environ if environ is None else environ
    if isinstance(value, SecretRef):
        if value.env:
            try:
                stored = read_dotenv(secrets_file) if secrets_file is not None else {}
            except CoursectlError:  # an unreadable secrets.env: shown as not available, never as a crash
                stored = {}
            available = value.env in env or value.env in stored
        else:
            available = Path(value.file or "").expanduser().is_file()
        return {"ref": value.describe(), "value": REDACTED, "available": available}
    if isinstance(value, BaseModel):
        return {
            name: redacted(getattr(value, name), secrets_file=secrets_file, environ=environ)
            for name in type(value).model_fields
        }
    if isinstance(value, dict):
        return {k: redacted(v, secrets_file=secrets_file, environ=environ) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v, secrets_file=secrets_file, environ=environ) for v in value]
    if isinstance(value, str):
        return mask_url_passwords(value)
    return value
