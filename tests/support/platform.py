"""Runs the course platform for integration tests: six uvicorn processes and an HAProxy edge, all on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import httpx
import pytest

from tests.support.servers import ManagedProcess, _tail, free_port, wait_until

SERVICES = ("user", "course", "payment", "enrollment", "notification", "content")
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "templates"
JWT_SECRET = "integration-jwt-secret-0123456789abcdef"
SIGNING_KEY = "integration-content-signing-key-0123456789"
ADMIN = ("admin@example.com", "admin-password-123")


def render_edge(context: Mapping[str, Any]) -> str:
    """Render templates/edge/haproxy.cfg.j2 (coursectl does the same in production)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    return env.get_template("edge/haproxy.cfg.j2").render(dict(context))


def haproxy_binary() -> str:
    path = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if path is None:
        pytest.fail("haproxy is not installed: install the Debian package 'haproxy' (apt-get install haproxy)")
    return path


@dataclass
class Edge:
    """An HAProxy process in the foreground (-db) with a rendered configuration."""

    workdir: Path
    services: list[dict[str, Any]]
    rate_limit: dict[str, Any] = field(default_factory=lambda: {"requests": 1000, "period": "10s"})
    port: int = field(default_factory=free_port)
    stats_port: int = field(default_factory=free_port)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket(self) -> Path:
        return self.workdir / "haproxy.sock"

    def config(self) -> str:
        return render_edge({"edge": {"bind": f"127.0.0.1:{self.port}", "stats_bind": f"127.0.0.1:{self.stats_port}",
                                     "admin_socket": str(self.socket), "rate_limit": self.rate_limit,
                                     "health_interval": "500ms"},
                            "services": self.services})

    def start(self) -> "Edge":
        binary = haproxy_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(self.config())
        check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True,
                                             timeout=30)
        if check.returncode != 0:
            pytest.fail(f"haproxy -c refused the rendered config:\n{check.stdout}{check.stderr}")
        self.process = ManagedProcess("haproxy", [binary, "-f", str(cfg), "-db"], log=self.workdir / "haproxy.log")
        self.process.start()
        wait_until(lambda: self.socket.exists(), 20, "HAProxy", proc=self.process.proc,
                   log=self.workdir / "haproxy.log")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@dataclass
class Platform:
    workdir: Path
    env_by_service: dict[str, dict[str, str]]
    ports: dict[str, int]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    edge: Edge | None = None
    # the web front end behind the edge's default route (everything but /api/<service>/), when given
    storefront_port: int | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log(self, service: str) -> Path:
        return self.workdir / f"{service}.log"

    def start(self) -> "Platform":
        for svc in SERVICES:
            env = {**os.environ, **self.env_by_service[svc]}
            self.processes[svc] = ManagedProcess(svc, [sys.executable, "-m", f"{svc}_service"],
                                                 log=self.log(svc), env=env, cwd=str(self.workdir))
            self.processes[svc].start()
        for svc in SERVICES:
            def ready(svc: str = svc) -> bool:
                return httpx.get(self.url(svc) + "/health/ready", timeout=2).status_code == 200

            wait_until(ready, 60, f"{svc} service", proc=self.processes[svc].proc, log=self.log(svc))
        backends = [
            {"name": svc, "servers": [{"name": "blue", "address": f"127.0.0.1:{self.ports[svc]}", "weight": 100}]}
            for svc in SERVICES]
        if self.storefront_port is not None:
            backends.append({"name": "storefront", "route": "/", "servers": [
                {"name": "blue", "address": f"127.0.0.1:{self.storefront_port}", "weight": 100}]})
        self.edge = Edge(self.workdir / "edge", backends)
        self.edge.start()
        client = httpx.Client(base_url=self.edge.url, timeout=5)
        wait_until(lambda: all(client.get(f"/api/{svc}/openapi.json").status_code == 200 for svc in SERVICES),
                   30, "the edge routing to every service", proc=self.edge.process.proc,
                   log=self.workdir / "edge" / "haproxy.log")
        client.close()
        return self

    def stop(self) -> None:
        if self.edge is not None:
            self.edge.stop()
        for proc in self.processes.values():
            proc.stop()

    def logs(self) -> str:
        return "".join(_tail(self.log(svc), 15) for svc in SERVICES)

    def metrics(self, service: str) -> str:
        return httpx.get(self.url(service) + "/metrics", timeout=5).text


def platform_env(workdir: Path, ports: Mapping[str, int], database_urls: Mapping[str, str],
                 extra: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    common = {"HOST": "127.0.0.1", "JWT_SECRET": JWT_SECRET, "LOG_LEVEL": "INFO",
              "APP_VERSION": "9.9.9-test", "GIT_SHA": "0123456789abcdef", "BUILD_TIME": "2026-01-01T00:00:00Z",
              "USER_URL": f"http://127.0.0.1:{ports['user']}", "COURSE_URL": f"http://127.0.0.1:{ports['course']}",
              "PAYMENT_URL": f"http://127.0.0.1:{ports['payment']}",
              "ENROLLMENT_URL": f"http://127.0.0.1:{ports['enrollment']}",
              "NOTIFICATION_URL": f"http://127.0.0.1:{ports['notification']}",
              "CONTENT_URL": f"http://127.0.0.1:{ports['content']}",
              "CONTENT_SIGNING_KEY": SIGNING_KEY, "OUTBOX_INTERVAL_SECONDS": "0.2", "NOTIFY_POLL_SECONDS": "0.2",
              "NOTIFY_RETRY_BASE_SECONDS": "0.2", "ADMIN_EMAIL": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1],
              "FAULT_ERROR_RATE": "", "FAULT_LATENCY_MS": "", "PYTHONUNBUFFERED": "1"}
    out = {}
    for svc in SERVICES:
        env = dict(common)
        env.update({"PORT": str(ports[svc]), "DATABASE_URL": database_urls[svc]})
        env.update(extra.get(svc, {}))
        out[svc] = env
    return out


def sqlite_urls(workdir: Path) -> dict[str, str]:
    return {svc: f"sqlite:///{workdir / 'data' / (svc + '.db')}" for svc in SERVICES}


def wait_for_metric(fetch: Any, needle: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = fetch()
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in metrics:\n{text}")
