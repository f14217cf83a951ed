"""Is a process still there: for the slots the process target started, an edge's master, a lock's holder."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coursectl.domain import LockInfo


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs: a zombie (ours, or one its parent or init has not reaped yet) does
    not; a process whose main thread has exited while other threads still run (and hold its sockets) does."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    except OSError:
        return False
    try:  # a zombie child of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass
    try:  # nor a zombie of another process (the deploy that started it)
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            return True
    except (OSError, IndexError):
        return True
    try:  # but a leader thread that has exited while others still run still holds the process's sockets
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def holder_alive(lock: LockInfo | None, now: datetime | None = None) -> bool:
    """Whether a lock is held by a live process: not expired, and (when its reason names a pid on this host,
    ``pid=N host=H``) that process still runs — a killed holder not yet reaped (a zombie) does not."""
    if lock is None or lock.expired(now):
        return False
    fields = dict(part.split("=", 1) for part in lock.reason.split() if "=" in part)
    if fields.get("host") == socket.gethostname() and fields.get("pid", "").isdigit():
        return pid_alive(int(fields["pid"]))
    return True
