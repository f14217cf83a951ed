"""What the scanner parsers share: the parse result and JSON loading that names the scanner on failure."""

from __future__ import annotations

import json
from typing import Any

from coursectl.errors import ExternalError


def load_json(text: str, scanner: str) -> Any:
    """Decode a scanner's JSON output; anything else is an ExternalError naming the scanner."""
    stripped = (text or "").strip()
    if not stripped:
        raise ExternalError(f"{scanner} printed nothing on stdout (expected a JSON report)")
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        sample = stripped[:120].replace("\n", " ")
        raise ExternalError(
            f"{scanner} printed output that is not JSON ({exc.msg} at line {exc.lineno}): {sample!r}",
            hint=f"run the {scanner} command by hand to see what went wrong",
        ) from exc


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list (tools drop empty keys or put null there)."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty dict."""
    return value if isinstance(value, dict) else {}
