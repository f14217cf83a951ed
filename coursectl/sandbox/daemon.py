"""Start one sandbox daemon and wait, with a timeout, until it answers; failures name its log file."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from coursectl.adapters.process import spawn_daemon
from coursectl.errors import ExternalError, ExternalTimeout
from coursectl.sandbox import pids


@dataclass(frozen=True)
class Started:
    """A daemon that answers: its pid, start time and log file."""

    pid: int
    starttime: int | None
    log: Path


def log_tail(path: Path, lines: int = 12) -> str:
    """The last ``lines`` lines of a log file (empty when it cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def exit_code(pid: int) -> int | None:
    """The exit code of our child ``pid`` if it has ended (collecting it), else None."""
    with contextlib.suppress(ChildProcessError):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        return None
    return None if pids.alive(pid) else -1


def start(
    component: str,
    argv: Sequence[str | os.PathLike[str]],
    *,
    log_path: Path,
    ready: Callable[[], bool],
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> Started:
    """Spawn ``argv`` detached, then poll ``ready`` until true; stop it again and raise if it never is."""
    with open(log_path, "ab") as out:
        out.write(f"--- coursectl: starting {component}: {' '.join(map(str, argv))}\n".encode())
    pid = spawn_daemon(argv, log_path=log_path, env=env)
    start_time = pids.starttime(pid)
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return Started(pid, start_time, log_path)
        code = exit_code(pid)
        if code is not None:
            raise ExternalError(
                f"{component} exited with code {code} right after it was started; see {log_path}:\n"
                f"{log_tail(log_path)}",
                hint=f"read {log_path}",
                details={"component": component, "log": str(log_path)},
            )
        if time.monotonic() >= deadline:
            pids.terminate(pid, start_time, timeout=10)
            raise ExternalTimeout(
                f"{component} did not become ready within {timeout:g} s (stopped it again); see {log_path}:\n"
                f"{log_tail(log_path)}",
                hint=f"read {log_path}",
                details={"component": component, "log": str(log_path)},
            )
        time.sleep(0.2)
