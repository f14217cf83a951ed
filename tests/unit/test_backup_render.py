"""The MariaDB tools' argv and option files, exactly: credentials never in argv."""

from __future__ import annotations

from pathlib import Path

from coursectl.render import mariadb as render


def test_option_file_quotes_and_chooses_the_protocol() -> None:
    assert render.option_file(user="backup", password='p"a\\ss', host="db.local", port=3307) == (
        '[client]\nuser="backup"\npassword="p\\"a\\\\ss"\nhost="db.local"\nport=3307\nprotocol=tcp\n')
    assert render.option_file(user="root", password="", socket="/tmp/s.sock") == (
        '[client]\nuser="root"\npassword=""\nsocket="/tmp/s.sock"\nprotocol=socket\n')


def test_dump_argv_is_consistent_streamed_and_has_no_secret() -> None:
    assert render.dump_argv("mariadb-dump", "/dev/fd/5", "course") == [
        "mariadb-dump", "--defaults-file=/dev/fd/5", "--single-transaction", "--quick", "--routines", "--triggers",
        "--events", "--hex-blob", "--no-tablespaces", "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
        "course"]


def test_client_argv() -> None:
    assert render.client_argv("mariadb", "/dev/fd/7", "course_restored") == [
        "mariadb", "--defaults-file=/dev/fd/7", "--batch", "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G", "course_restored"]


def test_scratch_server_has_no_tcp_port() -> None:
    argv = render.scratch_server_argv("/usr/sbin/mariadbd", Path("/tmp/x"), as_root=True, buffer_pool=64 << 20)
    assert "--skip-networking" in argv and "--socket=/tmp/x/mysqld.sock" in argv and argv[-1] == "--user=root"
    assert not any(a.startswith("--port") or a.startswith("--bind") for a in argv)
    assert argv[1] == "--no-defaults"
    assert "--user=root" not in render.install_db_argv("mariadb-install-db", Path("/d"), as_root=False)
