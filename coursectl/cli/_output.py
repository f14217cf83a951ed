"""The one output sink: results on stdout (human, json or quiet), progress and errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class OutputMode(str, Enum):
    """How a command prints its result."""

    human = "human"
    json = "json"
    quiet = "quiet"


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def write_report(path: Any, text: str) -> None:
    """Write a report file (its folder created); a path that cannot be written is a usage error (exit 2)."""
    from pathlib import Path

    from coursectl.errors import UsageError

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the report {target}: {exc.strerror or exc}",
                         hint="give a file path in a writable folder") from exc


def dumps(data: Any) -> str:
    """JSON as coursectl prints it: sorted keys where dicts are, stable, UTF-8."""
    return json.dumps(data, indent=2, default=_default, ensure_ascii=False)


class Output:
    """Where a command's result, progress, warnings and errors go, according to the output mode."""

    def __init__(self, mode: OutputMode = OutputMode.human, *, verbosity: int = 0):
        self.mode = mode
        self.verbosity = verbosity
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def console(self) -> Console:
        """A rich console on stdout (created on first use, so test runners' captured streams are used)."""
        if self._out is None:
            from rich.console import Console

            # Jenkins logs and pipes are not 80 columns wide: do not truncate what we print there
            width = None if sys.stdout.isatty() else 200
            self._out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)
        return self._out

    @property
    def err_console(self) -> Console:
        """A rich console on stderr."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        return self._err

    @property
    def interactive(self) -> bool:
        """Progress bars and live views only for a human at a terminal."""
        return self.mode is OutputMode.human and sys.stderr.isatty()

    def result(
        self,
        data: Any,
        *,
        human: Callable[[Console], None] | str | None = None,
        ids: Iterable[str] = (),
    ) -> None:
        """Print the command's result: ``human`` (a renderer or text), ``data`` as JSON, or ``ids``."""
        if self.mode is OutputMode.json:
            sys.stdout.write(dumps(data) + "\n")
        elif self.mode is OutputMode.quiet:
            for ident in ids:
                sys.stdout.write(f"{ident}\n")
        elif callable(human):
            human(self.console)
        elif human is not None:
            self.console.print(human, markup=False)
        else:
            sys.stdout.write(dumps(data) + "\n")
        sys.stdout.flush()

    def progress(self, message: str) -> None:
        """A progress line on stderr (not in quiet mode)."""
        if self.mode is not OutputMode.quiet:
            self.err_console.print(message, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        """A warning on stderr, in every mode but quiet."""
        if self.mode is not OutputMode.quiet:
            self.err_console.print(f"warning: {message}", style="yellow", markup=False)

    def error(self, payload: dict[str, Any], message: str, hint: str | None) -> None:
        """An error on stderr: ``{"error": {...}}`` in json mode, otherwise text with its hint."""
        if self.mode is OutputMode.json:
            sys.stderr.write(dumps({"error": payload}) + "\n")
        else:
            self.err_console.print(f"error: {message}", style="bold red", markup=False)
            if hint:
                self.err_console.print(f"hint: {hint}", style="dim", markup=False)
        sys.stderr.flush()
