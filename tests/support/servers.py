"""Pytest plugin: real MariaDB, Redis, RabbitMQ and an SMTP sink, started as unprivileged local processes.

Each server binds 127.0.0.1 on a free port, keeps its data under a temporary directory, is waited for with a
timeout, and is stopped (its whole process group) at the end of the session. A missing binary FAILS the test
that asked for it, with the Debian package to install: CI installs them, so a skip would hide a broken setup.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1,
               proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> Any:
    """Call `check` until it returns a truthy value without raising; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with {proc.returncode}{_tail(log)}")
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last = exc
        time.sleep(interval)
    pytest.fail(f"{what}: not ready after {timeout:.0f}s (last error: {last!r}){_tail(log)}")


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- " + str(log) + " ---\n" + "\n".join(text)


def require_binary(name: str, package: str, candidates: tuple[str, ...] = ()) -> str:
    for path in (shutil.which(name), *candidates):
        if path and os.path.exists(path):
            return path
    pytest.fail(f"{name} is not installed: install the Debian package '{package}' (apt-get install {package})")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass
class ManagedProcess:
    """A child in its own process group, so stopping it stops everything it started."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    cwd: str | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> "ManagedProcess":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=self.env, cwd=self.cwd, start_new_session=True)
        out.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # the leader is gone; make sure nothing else in its group survives
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- MariaDB

@dataclass
class MariaDB:
    host: str
    port: int
    socket: str
    user: str = "course"
    password: str = "course-test-password"

    def admin_connect(self) -> Any:
        import pymysql

        return pymysql.connect(unix_socket=self.socket, user="root", password="", autocommit=True)

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL (PyMySQL driver)."""
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                cur.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{self.user}'@'127.0.0.1'")
        finally:
            conn.close()
        return f"mysql+pymysql://{self.user}:{self.password}@{self.host}:{self.port}/{name}?charset=utf8mb4"


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    """A real MariaDB server (Debian mariadb-server) on a free 127.0.0.1 port."""
    mariadbd = require_binary("mariadbd", "mariadb-server", ("/usr/sbin/mariadbd",))
    install_db = require_binary("mariadb-install-db", "mariadb-server", ("/usr/bin/mariadb-install-db",))
    base = tmp_path_factory.mktemp("mariadb")
    datadir, sock, log = base / "data", str(base / "mariadb.sock"), base / "mariadb.log"
    setup = subprocess.run(
        [install_db, "--no-defaults", f"--datadir={datadir}", "--user=root", "--skip-test-db",
         "--auth-root-authentication-method=normal", "--skip-name-resolve"],
        capture_output=True, text=True, timeout=180)
    if setup.returncode != 0:
        pytest.fail(f"mariadb-install-db failed ({setup.returncode}):\n{setup.stdout}\n{setup.stderr}")
    port = free_port()
    server = ManagedProcess("mariadb", [
        mariadbd, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
        "--bind-address=127.0.0.1", "--user=root", f"--pid-file={base / 'mariadb.pid'}",
        f"--log-error={log}", "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=16M", "--max-connections=300", "--skip-log-bin",
    ], log=base / "mariadbd.out").start()
    db = MariaDB("127.0.0.1", port, sock)
    try:
        wait_until(lambda: db.admin_connect().close() or True, 90, "MariaDB", proc=server.proc, log=log)
        conn = db.admin_connect()
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER IF NOT EXISTS '{db.user}'@'127.0.0.1' IDENTIFIED BY '{db.password}'")
        conn.close()
        yield db
    finally:
        server.stop()


# ---------------------------------------------------------------- Redis

@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis (Debian redis-server) on a free 127.0.0.1 port, no persistence; yields its URL."""
    binary = require_binary("redis-server", "redis-server", ("/usr/bin/redis-server",))
    base = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = ManagedProcess("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(base), "--protected-mode", "yes",
                                      "--daemonize", "no"], log=base / "redis.log").start()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        def ping() -> bool:
            client = redis.Redis.from_url(url, socket_timeout=1)
            try:
                return bool(client.ping())
            finally:
                client.close()

        wait_until(ping, 30, "Redis", proc=server.proc, log=base / "redis.log")
        yield url
    finally:
        server.stop()


# ---------------------------------------------------------------- RabbitMQ

@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real RabbitMQ (Debian rabbitmq-server) with its own epmd, on free ports; yields an AMQP URL."""
    script = require_binary("rabbitmq-server", "rabbitmq-server", ("/usr/lib/rabbitmq/bin/rabbitmq-server",))
    # the /usr/sbin wrapper switches to the rabbitmq user; the real script runs as whoever we are
    direct = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    if os.path.exists(direct):
        script = direct
    epmd_bin = require_binary("epmd", "erlang-base", ("/usr/bin/epmd",))
    base = tmp_path_factory.mktemp("rabbitmq")
    home = base / "home"
    home.mkdir()
    amqp_port, dist_port, epmd_port = free_port(), free_port(), free_port()
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{amqp_port}\nloopback_users.guest = true\n"
        "log.console = true\nlog.file = false\n")
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ERL_EPMD_PORT": str(epmd_port),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODENAME": "rabbit@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_SERVER_ERL_ARGS": f"+P 65536 -kernel inet_dist_listen_min {dist_port} "
                                    f"-kernel inet_dist_listen_max {dist_port}",
    }
    epmd = ManagedProcess("epmd", [epmd_bin, "-port", str(epmd_port), "-address", "127.0.0.1"],
                          log=base / "epmd.log", env=env).start()
    wait_until(lambda: port_open(epmd_port), 15, "epmd", proc=epmd.proc, log=base / "epmd.log")
    server = ManagedProcess("rabbitmq", [script], log=base / "rabbitmq.out", env=env, cwd=str(base)).start()
    url = f"amqp://guest:guest@127.0.0.1:{amqp_port}/%2F"
    try:
        import pika

        def connect() -> bool:
            params = pika.URLParameters(url)
            params.socket_timeout = 2
            params.connection_attempts = 1
            pika.BlockingConnection(params).close()
            return True

        wait_until(connect, 120, "RabbitMQ", interval=0.5, proc=server.proc, log=base / "rabbitmq.out")
        yield url
    finally:
        server.stop(timeout=30)
        epmd.stop()


# ---------------------------------------------------------------- SMTP sink

@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, message: Any) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 30.0) -> Any:
        """The first captured message matching `predicate`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no matching e-mail within {timeout:.0f}s; got "
                                f"{[m.get('Subject') for m in self.messages]}")
                self._cond.wait(remaining)


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server on a free 127.0.0.1 port that keeps every message it receives."""
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Message
    except ImportError:
        pytest.fail("aiosmtpd is not installed: pip install -r platform-services/requirements-dev.txt")
    import email
    import email.policy

    port = free_port()
    sink = SmtpSink("127.0.0.1", port)

    class Keep(Message):  # type: ignore[misc]
        def handle_message(self, message: Any) -> None:
            sink.add(message)

        def prepare_message(self, session: Any, envelope: Any) -> Any:
            return email.message_from_bytes(envelope.content, policy=email.policy.default)

    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs real servers (MariaDB, Redis, RabbitMQ, HAProxy...)")
