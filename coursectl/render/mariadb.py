"""Pure builders for the MariaDB/MySQL command-line tools: the option file that carries the credentials (handed
over a pipe, never in argv) and the argv of the dump, the restoring client and the scratch server."""

from __future__ import annotations

from pathlib import Path


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def option_file(
    *,
    user: str,
    password: str | None = None,
    host: str | None = None,
    port: int | None = None,
    socket: str | None = None,
) -> str:
    """A ``[client]`` option file; read by ``--defaults-file=/dev/fd/N`` so no secret is on a command line."""
    lines = ["[client]", f"user={_quote(user)}"]
    if password is not None:
        lines.append(f"password={_quote(password)}")
    if socket:
        lines.append(f"socket={_quote(socket)}")
        lines.append("protocol=socket")
    else:
        if host:
            lines.append(f"host={_quote(host)}")
        if port:
            lines.append(f"port={port}")
        lines.append("protocol=tcp")
    return "\n".join(lines) + "\n"


def dump_argv(command: str, defaults: str, database: str) -> list[str]:
    """One database, consistent (one transaction), with routines, triggers and events, binary as hex, streamed
    row by row (``--quick``); no ``CREATE DATABASE``/``USE``, so it restores into a database of any name."""
    return [
        command,
        f"--defaults-file={defaults}",  # must come first
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--no-tablespaces",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
        database,
    ]


def client_argv(command: str, defaults: str, database: str) -> list[str]:
    """The client that replays a dump into ``database``."""
    return [
        command,
        f"--defaults-file={defaults}",
        "--batch",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
        database,
    ]


def install_db_argv(command: str, datadir: Path, *, as_root: bool) -> list[str]:
    argv = [
        command,
        "--no-defaults",
        f"--datadir={datadir}",
        "--skip-test-db",
        "--auth-root-authentication-method=normal",
        "--skip-name-resolve",
    ]
    if as_root:
        argv.append("--user=root")
    return argv


def scratch_server_argv(command: str, base: Path, *, as_root: bool, buffer_pool: int) -> list[str]:
    """A throw-away server: no TCP port at all (a unix socket in ``base``), no binary log, data in ``base``."""
    argv = [
        command,
        "--no-defaults",
        f"--datadir={base / 'data'}",
        f"--socket={base / 'mysqld.sock'}",
        f"--pid-file={base / 'mysqld.pid'}",
        f"--log-error={base / 'error.log'}",
        f"--tmpdir={base / 'tmp'}",
        "--skip-networking",
        "--skip-name-resolve",
        "--skip-log-bin",
        f"--innodb-buffer-pool-size={buffer_pool}",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--max-allowed-packet=1G",
    ]
    if as_root:
        argv.append("--user=root")
    return argv
