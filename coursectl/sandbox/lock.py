"""An exclusive file lock so that two ``sandbox up``/``down`` calls on one state directory never race."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coursectl.errors import PreconditionError


@contextmanager
def exclusive(path: Path, *, timeout: float, what: str = "the sandbox") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed), waiting at most ``timeout`` seconds for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PreconditionError(
                        f"another coursectl process is changing {what} (lock {path} held for over {timeout:g} s)",
                        hint="wait for it to finish, or find it with `fuser` on the lock file",
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock
