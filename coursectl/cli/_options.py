"""Shared command-line options, so a flag has the same name and help on every command."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from coursectl.cli._output import OutputMode

OutputOption = Annotated[
    OutputMode | None,
    typer.Option("--output", "-o", help="Result format: human, json (one document on stdout) or quiet (ids only).",
                 case_sensitive=False, show_default=False),
]
EnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="Environment (default: the global --env, COURSECTL_ENV or the config's default).",
                 show_default=False),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan and change nothing.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
MAX_WAIT = 86400.0
"""The longest wait or timeout a flag accepts (a day)."""
MAX_LIMIT = 1_000_000
"""The largest count a --limit accepts."""


def finite(value: float | None) -> float | None:
    """Option callback: refuse NaN and infinity (a range check lets NaN through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


LockWaitOption = Annotated[
    float, typer.Option("--lock-wait", metavar="SECONDS", help="Wait this long for a held deploy lock.", min=0,
                        max=MAX_WAIT, callback=finite)
]
