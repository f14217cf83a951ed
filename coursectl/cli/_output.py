"""The one output sink: results on stdout (human, json or quiet), progress, warnings and errors on stderr.

Everything coursectl prints or writes as a report goes through here, so two rules hold for every output:
passwords in URLs and known secret values are masked (one redaction path), and user data is shown as
printable text (control characters and escape sequences become visible escapes). With ``-o json`` stderr is
machine-readable too: one JSON object per line, each with a ``type`` (``progress``, ``warning``, ``log``), and
the error document (``{"type": "error", "error": {...}}``) as the last line.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.render.printable import json_safe, printable, printable_text

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderableType, RenderResult


class OutputMode(str, Enum):  # noqa: UP042 - typer choice; StrEnum would change str() in output
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


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """JSON as coursectl prints it: stable, UTF-8, always valid (no NaN/Infinity), safe on a terminal."""
    try:
        text = json.dumps(data, indent=indent, default=_default, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or infinity somewhere: JSON has no such value, null says "no number"
        text = json.dumps(
            _finite(json.loads(json.dumps(data, default=_default))),
            indent=indent,
            ensure_ascii=False,
            allow_nan=False,
        )
    return json_safe(text)


def redact(text: str) -> str:
    """``text`` with passwords in URLs and every known secret value masked as ``***``."""
    from coursectl.config.redact import redact_text

    return redact_text(text)


class _Clean:
    """A rich renderable that shows another one with redacted, printable text (styles untouched)."""

    def __init__(self, inner: RenderableType):
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        for segment in console.render(self.inner, options):
            if segment.control or not segment.text:
                yield segment
            else:
                yield Segment(redact(printable_text(segment.text)), segment.style, segment.control)


def _clean_hook() -> Any:
    from rich.console import RenderHook

    class CleanHook(RenderHook):
        def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
            return [_Clean(r) for r in renderables]

    return CleanHook()


class Output:
    """Where a command's result, progress, warnings and errors go, according to the output mode."""

    def __init__(self, mode: OutputMode = OutputMode.human, *, verbosity: int = 0):
        self.mode = mode
        self.verbosity = verbosity
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def console(self) -> Console:
        """A rich console on stdout (created on first use, so test runners' captured streams are used).

        Whatever a command renders on it is shown redacted and as printable text.
        """
        if self._out is None:
            from rich.console import Console

            # Jenkins logs and pipes are not 80 columns wide: do not truncate what we print there
            width = None if sys.stdout.isatty() else 200
            self._out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)
            self._out.push_render_hook(_clean_hook())
        return self._out

    @property
    def err_console(self) -> Console:
        """A rich console on stderr (redacted, printable)."""
        if self._err is None:
            from rich.console import Console

            self._err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
            self._err.push_render_hook(_clean_hook())
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
            sys.stdout.write(redact(dumps(data)) + "\n")
        elif self.mode is OutputMode.quiet:
            for ident in ids:
                sys.stdout.write(redact(printable(str(ident))) + "\n")
        elif callable(human):
            human(self.console)
        elif human is not None:
            self.console.print(human, markup=False)
        else:
            sys.stdout.write(redact(dumps(data)) + "\n")
        sys.stdout.flush()

    def document(self, text: str, *, json_text: bool = False) -> None:
        """A document (a report in JSON, SARIF, JUnit, Markdown or HTML; JSON lines) on stdout, redacted and
        printable. ``json_text``: it is JSON, whose strings already escape control characters."""
        sys.stdout.write(self.clean_document(text, json_text=json_text))
        sys.stdout.flush()

    @staticmethod
    def clean_document(text: str, *, json_text: bool = False) -> str:
        """What ``document`` prints (and report files contain): redacted, with no raw control characters."""
        return redact(json_safe(text) if json_text else printable_text(text))

    def _line(self, kind: str, message: str, **extra: Any) -> None:
        sys.stderr.write(redact(dumps({"type": kind, "message": message, **extra}, indent=None)) + "\n")
        sys.stderr.flush()

    def progress(self, message: str) -> None:
        """A progress line on stderr (not in quiet mode; a ``{"type": "progress"}`` line in json mode)."""
        if self.mode is OutputMode.json:
            self._line("progress", message)
        elif self.mode is not OutputMode.quiet:
            self.err_console.print(message, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        """A warning on stderr, in every mode but quiet (a ``{"type": "warning"}`` line in json mode)."""
        if self.mode is OutputMode.json:
            self._line("warning", message)
        elif self.mode is not OutputMode.quiet:
            self.err_console.print(f"warning: {message}", style="yellow", markup=False)

    def error(self, payload: dict[str, Any], message: str, hint: str | None) -> None:
        """An error on stderr: one ``{"type": "error", "error": {...}}`` line in json mode, else text and hint."""
        if self.mode is OutputMode.json:
            sys.stderr.write(redact(dumps({"type": "error", "error": payload}, indent=None)) + "\n")
        else:
            self.err_console.print(f"error: {message}", style="bold red", markup=False)
            if hint:
                self.err_console.print(f"hint: {hint}", style="dim", markup=False)
        sys.stderr.flush()


def write_report_file(path: Path, text: str) -> None:
    """Write a report atomically (a temporary file beside it, then a rename): never half a report.

    Redacted and without raw control characters, like everything printed. UsageError (exit 2) naming the path
    when it cannot be written; call ``check_writable`` before the work to fail before anything happens.
    """
    import os

    from coursectl.errors import UsageError

    data = Output.clean_document(text, json_text=path.suffix.lower() in (".json", ".sarif", ".jsonl"))
    tmp = path.with_name(f".{path.name}.coursectl-tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise UsageError(
            f"cannot write the report {path}: {exc.strerror or exc}", hint="give a file path in a writable folder"
        ) from None


def write_report(path: Any, text: str) -> None:
    """Write a report file: its folder created, atomically, redacted; exit 2 when it cannot be written."""
    write_report_file(Path(path), text)


def check_writable(path: Path, option: str) -> None:
    """UsageError (exit 2) when ``path`` cannot become a file: it is a directory, its folder is a file, or the
    folder (or the nearest one that exists) is not writable. Checked before any work, so a command that
    records something never fails afterwards only because its report cannot be written."""
    import os

    from coursectl.errors import UsageError

    if not str(path) or str(path).endswith(os.sep):
        raise UsageError(f"{option} {path}: give a file name, not a directory")
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    if os.path.lexists(path) and not path.is_file():
        raise UsageError(f"{option} {path}: exists and is not a regular file")
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is not a directory")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK) or (target is folder and not os.access(folder, os.X_OK)):
        raise UsageError(f"{option} {path}: {target} is not writable")
