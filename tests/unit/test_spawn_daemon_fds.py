"""A daemon coursectl starts keeps none of its starter's inherited descriptors (a `flock` lock above all)."""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

from coursectl.adapters.process import spawn_daemon


def test_a_daemon_does_not_inherit_a_lock_it_would_then_hold(tmp_path: Path) -> None:
    lock = os.open(tmp_path / "heavy.lock", os.O_RDWR | os.O_CREAT)
    os.set_inheritable(lock, True)  # as flock(1) hands its locked descriptor to the command it runs
    fcntl.flock(lock, fcntl.LOCK_EX)
    pid = spawn_daemon(["sleep", "30"], log_path=tmp_path / "d.log")
    try:
        held = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                held.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except FileNotFoundError:  # a file the program opened and closed while starting
                continue
        assert str(tmp_path / "heavy.lock") not in held, held
        os.close(lock)  # we let go: the lock must be free although the daemon still runs
        other = os.open(tmp_path / "heavy.lock", os.O_RDWR)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError if the daemon held it
        os.close(other)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
