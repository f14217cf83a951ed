"""Render the Jinja2 templates under templates/ (shipped inside the wheel as coursectl/templates)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


def templates_dir() -> Path:
    """The templates folder: inside the installed package, else the repository's top-level templates/."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("coursectl templates folder not found (broken installation)")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "xml", "html.j2", "xml.j2")),
    )
    env.filters["tojson_compact"] = lambda value: json.dumps(value, separators=(",", ":"), sort_keys=True)
    return env


def render(name: str, /, **context: Any) -> str:
    """Render ``templates/<name>`` with ``context``; a missing variable is an error, not an empty string."""
    return _environment().get_template(name).render(**context)
