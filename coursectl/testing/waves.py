"""A six-service platform of tiny stand-in services on the process target behind a real HAProxy edge, in three
release waves: for the release integration tests and benchmarks/release_waves.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from coursectl.testing.drill import REPO, free_port

SERVICES = ("user", "content", "course", "payment", "enrollment", "notification")
ORDER = (("user", "content"), ("course", "payment"), ("enrollment", "notification"))
NEVER_READY = "import time; time.sleep(600)"  # a version whose slot never answers its health check
SLOW_START = (  # a version whose slot takes {seconds} to start
    "import runpy, time; time.sleep({seconds}); runpy.run_module('coursectl.tinyservice', run_name='__main__')"
)


class WavesPlatform:
    """A private config, state dir and ports; ``run``/``json`` call the real command line."""

    def __init__(
        self,
        tmp: Path,
        *,
        base: int,
        delay: float = 1.0,
        ready_timeout: float = 5.0,
        order: bool = True,
        parallel: int = 3,
        on_failure: str = "rollback-all",
        keep_old_warm: bool = True,
    ):
        self.tmp = tmp
        self.base = base
        self.edge_port, self.stats_port = free_port(), free_port()
        self.config = tmp / "coursectl.yaml"
        self.state = tmp / "state"
        self.delay, self.ready_timeout = delay, ready_timeout
        self.order, self.parallel, self.on_failure = order, parallel, on_failure
        self.keep_old_warm = keep_old_warm
        self.bad: str | None = None
        self.slow: dict[str, float] = {}  # service → seconds its slots take to start (time to act mid-release)
        self.write()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COURSECTL_")},
            "COURSECTL_STATE_DIR": str(self.state),
            "COURSECTL_CONFIG": str(self.config),
            "PYTHONPATH": str(REPO),
            "COURSECTL_ACTOR": "waves",
        }

    def write(self) -> None:
        services = "\n".join(
            f"  {name}: {{path: s/{name}, port: {self.base + i}}}" for i, name in enumerate(SERVICES)
        )
        order = "[" + ", ".join("[" + ", ".join(g) + "]" for g in ORDER) + "]" if self.order else "[]"
        commands = {name: SLOW_START.format(seconds=seconds) for name, seconds in self.slow.items()}
        if self.bad:
            commands[self.bad] = NEVER_READY
        bad = ""
        if commands:
            listed = ", ".join(f'{name}: ["{{python}}", "-c", "{code}"]' for name, code in commands.items())
            bad = f"    process_commands: {{{listed}}}\n"
        self.config.write_text(
            "project: waves\n"
            "default_environment: w\n"
            f"services:\n{services}\n"
            "registry: {url: 127.0.0.1:5000}\n"
            "scan: {skip_missing: true}\n"
            "journey: {enabled: false}\n"
            f"release: {{order: {order}, parallel: {self.parallel},"
            f" keep_old_warm: {str(self.keep_old_warm).lower()}}}\n"
            "environments:\n"
            "  w:\n"
            "    target: process\n"
            "    strategy: blue-green\n"
            f"    scale_down_delay: {self.delay}s\n"
            f"    ready_timeout: {self.ready_timeout}s\n"
            f"    file_sd_dir: {self.tmp / 'file_sd'}\n"
            "    prometheus_url: http://127.0.0.1:1\n"
            f'    edge: {{bind: "127.0.0.1:{self.edge_port}", stats_bind: "127.0.0.1:{self.stats_port}",'
            " rate_limit_requests: 1000000}\n"
            f"    release: {{on_failure: {self.on_failure}}}\n" + bad
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.edge_port}/api/{service}/x"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "coursectl", *args]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.tmp
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args), env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            cwd=self.tmp,
        )  # fmt: skip

    def json(self, *args: str) -> Any:
        done = self.run(*args, "-o", "json")
        if done.returncode != 0:
            raise AssertionError(f"{args}: exit {done.returncode}\n{done.stderr[-3000:]}")
        return json.loads(done.stdout)

    def versions(self) -> dict[str, str | None]:
        data = self.json("status")
        return {s["name"]: s["version"] for s in data["services"]}

    def release_status(self) -> dict[str, Any] | None:
        done = self.run("release", "status", "-o", "json")
        return json.loads(done.stdout) if done.returncode == 0 else None

    def cleanup(self) -> None:
        from coursectl.adapters.haproxy import HAProxyEdge
        from coursectl.adapters.process_target import ProcessTarget

        HAProxyEdge(self.state / "edge" / "w", services={}).stop()
        ProcessTarget(self.state / "slots" / "w", {}).stop_all()
