"""A scratch MariaDB server for restore tests: a fresh data directory in a private temporary folder, reachable
only through a unix socket (no TCP port), stopped and deleted when done."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from coursectl.adapters import process
from coursectl.errors import ExternalError, ExternalTimeout, ToolMissing
from coursectl.render import mariadb as render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScratchServer:
    """How to reach a running scratch server (as root, without a password, over its socket)."""

    socket: str
    version: str
    base: Path


def _which(program: str) -> str:
    found = shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise ToolMissing(
            f"{program} is not installed: the scratch MariaDB server needs it",
            hint="install the Debian package mariadb-server (bash scripts/setup.sh does)",
        )
    return found


def _accepting(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


@contextmanager
def scratch_mariadb(
    *,
    mariadbd: str = "mariadbd",
    install_db: str = "mariadb-install-db",
    start_timeout: float = 90.0,
    buffer_pool: int = 256 * 1024 * 1024,
) -> Iterator[ScratchServer]:
    """Start a scratch server, yield it, then stop it and remove its files."""
    import pymysql

    server_bin, install_bin = _which(mariadbd), _which(install_db)
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="coursectl-scratch-db-"))
    (base / "tmp").mkdir()
    proc: subprocess.Popen[bytes] | None = None
    try:
        process.run(render.install_db_argv(install_bin, base / "data", as_root=as_root), timeout=start_timeout)
        with open(base / "server.out", "ab") as out:
            proc = subprocess.Popen(
                render.scratch_server_argv(server_bin, base, as_root=as_root, buffer_pool=buffer_pool),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        sock = str(base / "mysqld.sock")
        deadline = time.monotonic() + start_timeout
        version = ""
        while True:
            if proc.poll() is not None:
                tail = (
                    (base / "error.log").read_text(errors="replace")[-2000:]
                    if (base / "error.log").exists()
                    else ""
                )
                raise ExternalError(f"the scratch MariaDB server exited with {proc.returncode}: {tail.strip()}")
            try:
                if not _accepting(sock):  # pymysql leaks its socket when the connect itself fails
                    raise pymysql.err.OperationalError(2002, "not accepting connections yet")
                conn = pymysql.connect(unix_socket=sock, user="root", password="", connect_timeout=2)
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT VERSION()")
                        version = str(cur.fetchone()[0])
                finally:
                    conn.close()
                break
            except pymysql.err.MySQLError as exc:
                if time.monotonic() > deadline:
                    raise ExternalTimeout(
                        f"the scratch MariaDB server did not start within {start_timeout:g} s"
                    ) from exc
                time.sleep(0.1)
        log.info("scratch MariaDB %s up at %s", version, sock)
        yield ScratchServer(socket=sock, version=version, base=base)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)
