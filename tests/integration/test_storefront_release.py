"""The storefront shipped like every service, on the sandbox: `coursectl release` builds (npm, then the image),
pushes and rolls out all seven services blue-green behind the edge, and its journey runs in Chromium through
that edge; then the storefront alone goes through a canary judged on its own Prometheus metrics — a healthy one
is promoted, one answering 50 % errors is aborted back to stable.

Runs in a clone of this repository (committed work only) with two test environments on the sandbox's engine,
registry and Prometheus. Fixed ports (the docker target's slots sit at port + offset + 100/200): 25080/25404
(edge and exporter of `itest`), 25081/25405 (`itest-canary`), slots 25101-25207 and 25501-25607.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coursectl.testing.load import LoadGenerator
from tests.integration.test_build_images import Env, clone, git

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing"),
]

REPO = Path(__file__).resolve().parents[2]
EDGE = "http://127.0.0.1:25080"
CANARY_EDGE = "http://127.0.0.1:25081"


def _environments(sandbox: Any) -> str:
    common = (f"target: docker, prometheus_url: '{sandbox.prometheus_url()}', "
              f"file_sd_dir: '{sandbox.file_sd_dir()}', ready_timeout: 120s")  # fmt: skip
    return (
        f"  itest: {{{common}, strategy: blue-green, port_offset: 17000, scale_down_delay: 1s,\n"
        "          edge: {bind: '127.0.0.1:25080', stats_bind: '127.0.0.1:25404', rate_limit_requests: 100000}}\n"
        f"  itest-canary: {{{common}, strategy: canary, port_offset: 17400, steps: [{{weight: 50, pause: 15s}}],\n"
        "          edge: {bind: '127.0.0.1:25081', stats_bind: '127.0.0.1:25405', rate_limit_requests: 100000}}\n"
    )


OVERLAY = """build: {base_image: coursectl/base:bookworm}
scan: {skip_missing: true}
"""
# the canary drill: the smoke check leaves the pages out, so that a faulty canary is caught by the analysis of its
# metrics under traffic (with "/" in it, the smoke check often catches it first, before any traffic)
CANARY_OVERLAY = """services:
  storefront: {smoke: [/health/ready, /version, /metrics]}
"""
ADMIN_OVERLAY = """services:
  user:
    env: {ADMIN_EMAIL: platform-admin@example.com}
    secrets: {ADMIN_PASSWORD: {env: PLATFORM_ADMIN_PASSWORD}}
journey:
  browser: always
  admin_email: platform-admin@example.com
  admin_password: {env: PLATFORM_ADMIN_PASSWORD}
"""


class Shop:
    def __init__(self, env: Env, repo: Path, admin_password: str):
        self.env, self.repo, self.admin_password = env, repo, admin_password

    def run(self, *args: str, timeout: float = 1500) -> tuple[int, Any, str]:
        environ = {**self.env.environ(), "PLATFORM_ADMIN_PASSWORD": self.admin_password}
        done = subprocess.run([sys.executable, "-m", "coursectl", *args, "-o", "json"], cwd=self.repo, env=environ,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
        doc = json.loads(done.stdout) if done.stdout.strip() else None
        return done.returncode, doc, done.stderr


@pytest.fixture(scope="module")
def shop(sandbox: Any, registry_credentials: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    env = Env(
        state_dir=tmp_path_factory.mktemp("coursectl-state"),
        registry=sandbox.registry_address(),
        docker_host=sandbox.docker_host(),
        username=registry_credentials.username,
        password=registry_credentials.password,
    )
    repo = clone(REPO, tmp_path_factory.mktemp("shop") / "repo", env.registry)
    config = repo / "coursectl.yaml"
    text = config.read_text()
    config.write_text(text.replace("environments:\n", "environments:\n" + _environments(sandbox), 1))
    (repo / "coursectl.itest.yaml").write_text(OVERLAY + ADMIN_OVERLAY)
    (repo / "coursectl.itest-canary.yaml").write_text(OVERLAY + CANARY_OVERLAY)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "test: sandbox environments for the storefront")
    # as scripts/setup.sh does in a checkout: the journey needs the storefront's npm packages even when the
    # release skips the storefront's build (its inputs were pushed before, so its prebuild does not run)
    npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
                         cwd=repo / "platform-services" / "storefront", capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert npm.returncode == 0, npm.stderr[-2000:]
    s = Shop(env, repo, secrets.token_urlsafe(16))
    try:
        yield s
    finally:
        for name in ("itest", "itest-canary"):  # the edges this module's rollouts started
            from coursectl.adapters.haproxy import HAProxyEdge

            HAProxyEdge(env.state_dir / "edge" / name, services={}).stop()
        import docker

        client = docker.DockerClient(base_url=sandbox.docker_host(), timeout=120)
        for container in client.containers.list(all=True, filters={"label": "coursectl.managed=true"}):
            if container.labels.get("coursectl.environment") in ("itest", "itest-canary"):
                container.remove(force=True)
        client.close()


def test_release_ships_all_seven_and_the_browser_journey_passes_through_the_edge(shop: Shop) -> None:
    code, doc, err = shop.run("release", "--env", "itest", "--yes")
    assert code == 0, f"exit {code}\n{json.dumps(doc, indent=1)[-6000:]}\n{err[-4000:]}"
    stages = {s["name"]: s for s in doc["stages"]}
    built = {r["service"]: r["status"] for r in stages["build+push"]["data"]}
    # built, or skipped when the sandbox's registry has its inputs already (the sandbox is kept between runs)
    assert built["storefront"] in ("built", "skipped") and len(built) == 7
    assert {d["service"] for d in doc["deployed"]} >= {"storefront", "user", "payment", "content"}
    journey = stages["journey"]
    assert journey["status"] == "ok", journey
    names = [s["name"] for s in journey["data"]["steps"]]
    for expected in ("browser: register", "browser: buy with a good card and enrol", "browser: read the lesson",
                     "browser: a student cannot reach the instructor's page", "browser: no console errors"):
        assert expected in names, names
    assert not any(s["skipped"] for s in journey["data"]["steps"])
    # through the edge: pages from the storefront, the API from the services
    import httpx

    page = httpx.get(EDGE + "/my-courses", timeout=10)
    assert page.status_code == 200 and page.headers["x-served-by"] == "storefront"
    api = httpx.get(EDGE + "/api/course/courses", timeout=10)
    assert api.headers["x-served-by"] == "course" and api.json()["total"] >= 1  # the journey's course
    version = httpx.get(EDGE + "/version", timeout=10).json()
    assert version["service"] == "storefront"
    # the commit the image was built at (HEAD, or an earlier build of the same inputs that was re-tagged)
    assert re.fullmatch(r"[0-9a-f]{40}", version["git_sha"]), version


def _touch_storefront(shop: Shop, note: str) -> str:
    target = shop.repo / "platform-services" / "storefront" / "src" / "pages" / "NotFound.tsx"
    target.write_text(target.read_text() + f"\n// {note}\n")
    git(shop.repo, "commit", "-qam", f"storefront: {note}")
    code, doc, err = shop.run("build", "storefront", "--push")
    assert code == 0, err[-3000:]
    [result] = doc["services"]
    assert result["status"] == "built" and result["pushed"]
    return str(result["version"])


@pytest.mark.parametrize("fault", [None, "0.5"], ids=["healthy-canary-promoted", "faulty-canary-aborted"])
def test_a_storefront_canary_is_judged_on_its_own_metrics(shop: Shop, fault: str | None) -> None:
    _, before, _ = shop.run("status", "--env", "itest-canary", "storefront")
    stable = before["services"][0]["version"] if before and before["services"] else None
    if not stable:  # the environment's first storefront: deployed straight, there is nothing to compare with
        stable = _touch_storefront(shop, "stable")
        code, _, err = shop.run("deploy", "storefront", "--env", "itest-canary", "--version", stable, "--yes")
        assert code == 0, err[-3000:]
    new = _touch_storefront(shop, f"canary {fault}")
    # /version says which slot answered (it is never faulted, like the services' /version); pages carry the errors
    versions = LoadGenerator(CANARY_EDGE + "/version", connections=2, rate_per_conn=20).start()
    pages = LoadGenerator(CANARY_EDGE + "/courses/1", connections=4, rate_per_conn=40).start()
    try:
        args = ["deploy", "storefront", "--env", "itest-canary", "--version", new, "--yes"]
        if fault:
            args += ["--set-env", f"FAULT_ERROR_RATE={fault}"]
        code, _, err = shop.run(*args)
    finally:
        versions.stop()
        pages.stop()
    _, status, _ = shop.run("status", "--env", "itest-canary", "storefront")
    [svc] = [s for s in status["services"] if s["name"] == "storefront"]
    assert new in versions.result.versions, f"the canary never got traffic: exit {code}\n{err[-3000:]}"
    assert (pages.result.failed > 0) == bool(fault), pages.result.to_dict()
    if fault:
        assert code == 7, err[-3000:]
        assert "error-rate" in err
        assert svc["version"] == stable and svc["weights"] == {"stable": 100}
    else:
        assert code == 0, err[-3000:]
        assert svc["version"] == new and svc["weights"] == {"stable": 100}
