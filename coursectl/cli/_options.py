"""Shared command-line options, so a flag has the same name and help on every command."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from coursectl.cli._output import OutputMode

OutputOption = Annotated[
    OutputMode | None,
    typer.Option(
        "--output",
        "-o",
        help="Result format: human, json (one document on stdout) or quiet (ids only).",
        case_sensitive=False,
        show_default=False,
    ),
]
EnvOption = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        help="Environment (default: the global --env, COURSECTL_ENV or the config's default).",
        show_default=False,
    ),
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
    float,
    typer.Option(
        "--lock-wait",
        metavar="SECONDS",
        help="Wait this long for a held deploy lock.",
        min=0,
        max=MAX_WAIT,
        callback=finite,
    ),
]


def report_path(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """Option callback for a file a command writes: checked while parsing, before any work (exit 2 for a
    directory, a folder that is a file, an unwritable place), so nothing is done and recorded first."""
    if value is not None:
        from coursectl.cli._output import check_writable
        from coursectl.errors import UsageError

        try:
            check_writable(value, f"--{param.name}")
        except UsageError as exc:
            raise typer.BadParameter(exc.message) from None
    return value


JUnitOption = Annotated[
    Path | None,
    typer.Option(
        "--junit",
        metavar="PATH",
        show_default=False,
        callback=report_path,
        help="Also write the results as JUnit XML here (for Jenkins' junit step); written even when the"
        " command fails.",
    ),
]
