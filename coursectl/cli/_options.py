"""Shared command-line options, so a flag has the same name and help on every command."""

from __future__ import annotations

from pathlib import Path
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
LockWaitOption = Annotated[
    float, typer.Option("--lock-wait", metavar="SECONDS", help="Wait this long for a held deploy lock.", min=0)
]
JUnitOption = Annotated[
    Path | None,
    typer.Option("--junit", metavar="PATH", show_default=False,
                 help="Also write the results as JUnit XML here (for Jenkins' junit step); written even when the"
                 " command fails."),
]
