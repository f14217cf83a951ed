"""`coursectl release` into every environment the shipped configuration offers locally (local, local-canary,
drill), on the sandbox, through the command line; then the canary release end to end on the docker target with
the sandbox's real Prometheus: no traffic → a human decides, a healthy version under load → promoted, the same
version with injected errors → aborted, named by error rate and request count.

It works in a clone of this repository (committed, so versions are commits) with the shipped coursectl.yaml;
the clone's overlays only move what would collide on a shared machine: the registry and Prometheus of the test
sandbox, free edge ports, slot port offsets. Environments are released in file order (module-scoped platform).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coursectl.testing.drill import free_port, seconds_to_stable
from coursectl.testing.load import LoadGenerator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing"),
]

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("content", "course", "enrollment", "notification", "payment", "storefront", "user")
INTERVAL = 5.0  # the shipped analysis interval
OFFSETS = {"local": 12000, "local-canary": 12500, "drill": 12300}


@dataclass
class Platform:
    repo: Path
    state: Path
    environ: dict[str, str]
    edges: dict[str, int]

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "coursectl", *args],
            cwd=self.repo, env=self.environ, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def json(self, *args: str) -> Any:
        done = self.run(*args, "-o", "json")
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout)

    def status(self, env: str, service: str) -> dict[str, Any]:
        data = self.json("status", service, "--env", env)
        return dict(data["services"][0])

    def url(self, env: str, path: str = "/api/course/courses") -> str:
        return f"http://127.0.0.1:{self.edges[env]}{path}"

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", "-C", str(self.repo), *args], check=True, capture_output=True, text=True)
        return done.stdout.strip()


def _overlay(env: str, edge: int, stats: int, sandbox: Any) -> str:
    return (
        f"  {env}:\n"
        f"    edge: {{bind: \"127.0.0.1:{edge}\", stats_bind: \"127.0.0.1:{stats}\","
        " rate_limit_requests: 100000}\n"
        f"    port_offset: {OFFSETS[env]}\n"
        f"    file_sd_dir: {sandbox.file_sd_dir()}\n"
        f"    prometheus_url: {sandbox.prometheus_url()}\n"
    )


@pytest.fixture(scope="module")
def platform(
    sandbox: Any, registry_credentials: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("release-envs")
    repo = root / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True, timeout=120)
    config = repo / "coursectl.yaml"
    config.write_text(config.read_text().replace("url: 127.0.0.1:5000", f"url: {sandbox.registry_address()}"))
    edges: dict[str, int] = {}
    for env in OFFSETS:
        edges[env] = free_port()
        overlay = repo / f"coursectl.{env}.yaml"
        text = overlay.read_text() if overlay.exists() else ""
        overlay.write_text(text + "environments:\n" + _overlay(env, edges[env], free_port(), sandbox))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSECTL_", "DOCKER_", "BUILD_", "FAULT_"))}
    state = root / "state"
    env.update(
        COURSECTL_STATE_DIR=str(state),
        COURSECTL_ACTOR="release-test",
        DOCKER_HOST=sandbox.docker_host(),
        PYTHONPATH=str(REPO),
        REGISTRY_USER=registry_credentials.username,
        REGISTRY_PASSWORD=registry_credentials.password,
    )
    env["PLATFORM_ADMIN_PASSWORD"] = secrets.token_urlsafe(16)  # what `sandbox up` generates for `local`
    p = Platform(repo, state, env, edges)
    p.git("-c", "user.email=t@example.invalid", "-c", "user.name=tests", "commit", "-qam", "test: sandbox ports")
    # as scripts/setup.sh does in a checkout: the storefront's npm packages (its build and browser journey)
    npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
                         cwd=repo / "platform-services" / "storefront", capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert npm.returncode == 0, npm.stderr[-2000:]
    try:
        yield p
    finally:
        _clean(p, sandbox)


def _clean(p: Platform, sandbox: Any) -> None:
    from coursectl.adapters.docker_target import DockerTarget
    from coursectl.adapters.process_target import ProcessTarget
    from coursectl.wiring import stop_edges

    stop_edges(p.state)
    for env in ("local", "local-canary"):
        ports = {s: 8000 for s in SERVICES}
        target = DockerTarget(environment=env, ports=ports, docker_host=sandbox.docker_host())
        for service in SERVICES:
            for slot in target.slots(service):
                target.retire(service, slot.slot)
    ProcessTarget(p.state / "slots" / "drill", {}).stop_all()


def _release(
    p: Platform, env: str, *services: str, set_env: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["release", *services, "--env", env, "--yes"]
    if set_env:
        args += ["--set-env", set_env]
    return p.run(*args, "-o", "json")


@pytest.mark.parametrize("env", ["local", "local-canary", "drill"])
def test_release_each_local_environment(platform: Platform, env: str) -> None:
    done = _release(platform, env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    stages = {s["name"]: s["status"] for s in report["stages"]}
    assert stages["build+push"] == "ok" and stages["rollout"] == "ok" and stages["journey"] == "ok", stages
    assert {d["service"] for d in report["deployed"]} == set(SERVICES)
    version = platform.git("rev-parse", "--short=12", "HEAD")
    for svc in report["status"]["services"]:
        assert svc["version"] == version and svc["health"] == "healthy", svc
    if env == "local":  # the load test's default paths are real user reads through this edge: all answered
        load = platform.run("loadtest", "--env", env, "--rps", "10", "--duration", "2", "-o", "json")
        figures = json.loads(load.stdout)
        assert load.returncode == 0 and figures["failed"] == 0, (figures.get("statuses"), load.stderr[-1000:])
    if env == "local-canary":  # the same commit again: nothing to roll out (same version, image, environment)
        again = _release(platform, env)
        assert again.returncode == 0, again.stderr[-2000:]
        assert {d["phase"] for d in json.loads(again.stdout)["deployed"]} == {"unchanged"}


def test_a_canary_without_traffic_is_never_promoted(platform: Platform) -> None:
    live = platform.status("local-canary", "course")["version"]
    done = platform.run("deploy", "course", "--env", "local-canary", "--set-env", "FAULT_LATENCY_MS=1")
    assert done.returncode == 6, done.stderr[-3000:]  # on_no_traffic: pause — a human decides
    assert "no traffic:" in done.stderr and "need 20" in done.stderr and "rollout resume" in done.stderr
    status = platform.status("local-canary", "course")
    assert status["version"] == live and status["weights"].get("stable", 0) >= 50
    rollout = platform.json("rollout", "status", "course", "--env", "local-canary")["rollout"]
    assert rollout["phase"] == "paused" and rollout["last_round"]["no_traffic"] is True
    assert rollout["analysis"]["successful"] == 0
    assert platform.run("rollout", "abort", "course", "--env", "local-canary").returncode == 0
    status = platform.status("local-canary", "course")
    assert status["version"] == live and status["weights"] == {"stable": 100}


def test_a_healthy_canary_under_load_is_promoted_and_a_faulty_one_aborted(platform: Platform) -> None:
    course = platform.repo / "platform-services" / "course" / "course_service" / "__init__.py"
    course.write_text(course.read_text() + "\n# a new version of the course service\n")
    platform.git("-c", "user.email=t@example.invalid", "-c", "user.name=tests", "commit", "-qam", "course: change")
    version = platform.git("rev-parse", "--short=12", "HEAD")
    load = LoadGenerator(platform.url("local-canary"), connections=4, rate_per_conn=15).start()  # ~60 requests/s
    try:
        good = _release(platform, "local-canary", "course")
        assert good.returncode == 0, good.stderr[-3000:]
        status = platform.status("local-canary", "course")
        assert status["version"] == version and status["weights"] == {"stable": 100}
        assert "analysis round" in good.stderr and "error-rate" in good.stderr and "latency-p95" in good.stderr
        rollout = platform.json("rollout", "status", "course", "--env", "local-canary")["rollout"]
        assert rollout["phase"] == "succeeded" and rollout["analysis"]["successful"] >= 2

        bad = _release(platform, "local-canary", "course", set_env="FAULT_ERROR_RATE=0.3")
        assert bad.returncode == 7, bad.stderr[-3000:]
        assert "error-rate" in bad.stderr and "> 1%" in bad.stderr and "requests in 20 s" in bad.stderr
        status = platform.status("local-canary", "course")
        assert status["version"] == version and status["weights"] == {"stable": 100}
        assert len(status["slots"]) == 1
    finally:
        result = load.stop()
    assert result.total > 1000
    assert sum(n for s, n in result.statuses.items() if s.startswith("error")) == 0  # the edge failed nothing
    seconds = seconds_to_stable(platform.state, "local-canary", "course")
    assert seconds is not None and seconds < 4 * INTERVAL, f"the bad canary had traffic for {seconds} s"
