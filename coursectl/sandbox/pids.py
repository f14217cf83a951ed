"""Find, check and stop the sandbox's daemons by pid through /proc (guarding against pid reuse)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    """A live process: pid, parent, start time (clock ticks since boot) and command line."""

    pid: int
    ppid: int
    starttime: int
    state: str
    cmdline: tuple[str, ...]

    @property
    def command(self) -> str:
        return " ".join(self.cmdline)


def parse_stat(text: str) -> tuple[str, int, int]:
    """(state, ppid, starttime) from the text of /proc/<pid>/stat; the command may contain spaces and ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); starttime is field 22
    return rest[0], int(rest[1]), int(rest[19])


def info(pid: int, proc: Path = PROC) -> ProcInfo | None:
    """The process ``pid``, or None when there is none (or it is a zombie)."""
    try:
        state, ppid, starttime = parse_stat((proc / str(pid) / "stat").read_text())
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    if state in ("Z", "X"):
        return None
    return ProcInfo(pid, ppid, starttime, state, tuple(p.decode(errors="replace") for p in raw.split(b"\0") if p))


def starttime(pid: int) -> int | None:
    """The start time of ``pid`` (to tell it apart from a later process with the same pid)."""
    found = info(pid)
    return found.starttime if found else None


def alive(pid: int | None, start: int | None = None) -> bool:
    """True when ``pid`` runs and, if ``start`` is given, is the same process that was recorded."""
    if not pid:
        return False
    _reap(pid)
    found = info(pid)
    return found is not None and (start is None or found.starttime == start)


def iter_processes(proc: Path = PROC) -> Iterator[ProcInfo]:
    """Every live process."""
    for entry in proc.iterdir():
        if entry.name.isdigit():
            found = info(int(entry.name), proc)
            if found:
                yield found


def matching(needles: Iterable[str], proc: Path = PROC) -> list[ProcInfo]:
    """Live processes whose command line contains one of ``needles``, never this process or its parents."""
    keys = [n for n in needles if n]
    protected = _ancestors(os.getpid())
    return [p for p in iter_processes(proc) if p.pid not in protected and any(k in p.command for k in keys)]


def _ancestors(pid: int) -> set[int]:
    seen = {pid}
    current = info(pid)
    while current and current.ppid > 1 and current.ppid not in seen:
        seen.add(current.ppid)
        current = info(current.ppid)
    return seen


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is a finished child of ours, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; True when it did."""
    deadline = time.monotonic() + timeout
    while alive(pid, start):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(pid: int, start: int | None = None, *, timeout: float = 20.0) -> bool:
    """SIGTERM ``pid``, then SIGKILL after ``timeout`` seconds; True if it was running and now is not."""
    if not alive(pid, start):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, start, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, start, 5.0)
    return not alive(pid, start)
