"""The container HEALTHCHECK (``python3 -m course_healthcheck``): exit 0 only when the service's health path
answers 2xx on its port, run against a real service process; and it imports the standard library only."""

from __future__ import annotations

import asyncio
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ManagedProcess, free_port, wait_until


def run_check(port: int, module: str = "course_healthcheck", **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), **env}
    return subprocess.run([sys.executable, "-m", module], env=full, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real course service process (uvicorn, SQLite) on a free port."""
    tmp = tmp_path_factory.mktemp("course")
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "FAULT_ERROR_RATE": "", "FAULT_LATENCY_MS": "",
           "DATABASE_URL": f"sqlite:///{tmp / 'course.db'}", "REDIS_URL": ""}
    proc = ManagedProcess("course", [sys.executable, "-m", "course_service"], log=tmp / "course.log", env=env,
                          cwd=str(tmp)).start()
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200, 30,
                   "course service", proc=proc.proc, log=tmp / "course.log")
        yield port
    finally:
        proc.stop()


def test_a_ready_service_is_healthy(course: int) -> None:
    done = run_check(course)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_the_configured_health_path_is_the_one_checked(course: int) -> None:
    assert run_check(course, HEALTH_PATH="/health/live").returncode == 0
    missing = run_check(course, HEALTH_PATH="/health/nothing-here")
    assert missing.returncode == 1
    assert "GET /health/nothing-here" in missing.stderr and "404" in missing.stderr


def test_the_old_module_still_answers_alike(course: int) -> None:
    assert run_check(course, module="course_common.healthcheck").returncode == 0
    assert run_check(course, module="course_common.healthcheck", HEALTH_PATH="/nope").returncode == 1


def test_nothing_listening_is_unhealthy() -> None:
    done = run_check(free_port(), HEALTHCHECK_TIMEOUT="2")
    assert done.returncode == 1
    assert "no answer" in done.stderr


class _Fixed(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "code"), [(200, 0), (204, 0), (299, 0), (301, 1), (500, 1), (503, 1)])
def test_only_2xx_is_healthy(status: int, code: int) -> None:
    handler = type("Handler", (_Fixed,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = run_check(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == code, done.stderr
    if code:
        assert str(status) in done.stderr


@pytest.mark.parametrize(
    "env",
    [{"PORT": "eighty"}, {"PORT": "70000"}, {"HEALTH_PATH": "health"}, {"HEALTH_PATH": "/a b"},
     {"HEALTH_PATH": "/x\r\nHost: evil"}, {"HEALTHCHECK_TIMEOUT": "soon"}, {"HOST": "hôte"}],
)
def test_bad_settings_are_unhealthy_and_named(env: dict[str, str]) -> None:
    name = next(iter(env))
    done = subprocess.run([sys.executable, "-m", "course_healthcheck"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert name in done.stderr


def _imported(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PORT": str(free_port()), "HEALTHCHECK_TIMEOUT": "1"})
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                names.add(name)
    return names


def test_the_check_imports_the_standard_library_only() -> None:
    # what this interpreter imports anyway at start-up (site, and this virtualenv's .pth finders) is left out
    extra = _imported("-m", "course_healthcheck") - _imported("-c", "pass")
    assert "socket" in extra  # the check ran (as __main__, which importtime does not list)
    foreign = {m for m in extra if m.split(".")[0] not in sys.stdlib_module_names}
    assert not foreign, foreign
    heavy = {m for m in extra if m.split(".")[0] in ("course_common", "fastapi", "urllib", "http", "email", "ssl")}
    assert not heavy, heavy


def test_an_idle_server_wakes_at_once_on_a_stop_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's housekeeping tick is 1 s when idle (not 0.1 s); SIGTERM must still end the wait at once: with a
    tick of 60 s the server stops well within it."""
    import signal

    import uvicorn
    from course_common import server as srv

    monkeypatch.setattr(srv, "IDLE_TICK", 60.0)

    async def app(scope: dict[str, object], receive: object, send: object) -> None:  # a do-nothing ASGI app
        return None

    server = srv.quiet_server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))

    async def scenario() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        server.handle_exit(signal.SIGTERM, None)
        # uvicorn re-raises the signals it caught once it has stopped: this one was not really sent
        getattr(server, "_captured_signals", []).clear()
        await asyncio.wait_for(task, timeout=20)

    asyncio.run(scenario())
    assert server.should_exit


def test_the_image_runs_this_check() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "python-service.Dockerfile").read_text()  # the one definition of the six Python services
    [line] = [line for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    assert line.endswith('CMD ["python3", "-m", "course_healthcheck"]')
    storefront = (root / "storefront" / "Dockerfile").read_text()
    assert "course_healthcheck.py" in storefront
