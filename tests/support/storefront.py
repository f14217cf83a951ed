"""The storefront in tests: its npm scripts, its built files, and its real nginx runtime on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ManagedProcess, free_port, require_binary, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
STOREFRONT = REPO_ROOT / "platform-services" / "storefront"
RUNTIME = STOREFRONT / "runtime" / "storefront_runtime.py"
CHROMIUM = "/usr/bin/chromium"


def require_node() -> str:
    """npm, with the storefront's packages installed (scripts/setup.sh does both)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(
            "npm is not installed: run scripts/setup.sh (it installs Node.js and the storefront's packages)"
        )
    if not (STOREFRONT / "node_modules" / ".bin" / "vite").exists():
        pytest.fail(f"the storefront's npm packages are missing: run scripts/setup.sh (npm ci in {STOREFRONT})")
    return npm


def npm(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
        cwd: Path = STOREFRONT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_node(), *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def build_dist(out: Path) -> Path:
    """``npm run build`` (typecheck, Vite, the size budget), then the files copied to ``out`` with a version.json
    as the image writes it."""
    done = npm("run", "build")
    assert done.returncode == 0, f"npm run build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(STOREFRONT / "dist", out)
    version = {"service": "storefront", "version": "9.9.9-test", "git_sha": "0123456789abcdef",
               "build_time": "2026-01-01T00:00:00Z"}
    (out / "version.json").write_text(json.dumps(version))
    return out


@dataclass
class StorefrontServer:
    """storefront_runtime.py serving ``root`` with the host's nginx (the same config and runtime as the image)."""

    root: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StorefrontServer:
        nginx = require_binary("nginx", "nginx-light", ("/usr/sbin/nginx",))
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port), "STOREFRONT_ROOT": str(self.root),
               "RUNTIME_DIR": str(self.workdir / "run"), "NGINX": nginx, **self.env}
        log = self.workdir / "storefront.log"
        self.process = ManagedProcess("storefront", [sys.executable, str(RUNTIME), "serve"], log=log, env=env)
        self.process.start()
        wait_until(lambda: httpx.get(self.url + "/health/ready", timeout=2).status_code == 200, 30,
                   "the storefront", proc=self.process.proc, log=log)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def journey(base_url: str, artifacts: Path, *, admin: tuple[str, str] | None,
            timeout: float = 300) -> tuple[int, list[dict[str, object]], str]:
    """Run e2e/journey.mjs against ``base_url``: (exit code, the JSON lines it printed, stderr)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: install the Debian package 'chromium' (scripts/setup.sh does)")
    env = {"BASE_URL": base_url, "ARTIFACTS": str(artifacts), "CHROMIUM": CHROMIUM}
    if admin:
        env.update(ADMIN_EMAIL=admin[0], ADMIN_PASSWORD=admin[1])
    argv = [shutil.which("node") or "node", str(STOREFRONT / "e2e" / "journey.mjs")]
    done = subprocess.run(argv, cwd=STOREFRONT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, lines, done.stderr
