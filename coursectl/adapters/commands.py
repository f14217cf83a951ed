"""Build steps on this machine (the CommandRunner port): argv in a folder, with a timeout, through the runner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from coursectl.adapters import process
from coursectl.errors import ExternalError

LOG_TAIL = 25


class LocalCommands:
    """Runs each command with ``coursectl.adapters.process.run``; its output is passed on line by line."""

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        timeout: float,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        done = process.run(list(argv), timeout=timeout, cwd=cwd, check=False, hint=f"install {argv[0]}")
        lines = [line.rstrip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        if on_line is not None:
            for line in lines:
                on_line(line)
        if done.returncode != 0:
            raise ExternalError(
                f"{' '.join(argv)} failed in {cwd} with exit code {done.returncode}",
                details={"argv": list(argv), "returncode": done.returncode, "log_tail": lines[-LOG_TAIL:]},
            )
