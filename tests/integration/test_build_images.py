"""Build, tag and push against a real engine and registry (the sandbox), in a clone of this repository.

The sandbox is the session fixture of ``tests/integration/conftest.py`` (private dockerd with ``--bridge=none``,
Registry v2 with htpasswd auth, the local base image; kept between runs, so the engine's build cache and the
registry persist). Each run uses a fresh coursectl state directory (ledger), and every change it makes to the
clone is unique to the run, so ``--changed-only`` sees new inputs whatever an earlier run pushed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("user", "course", "payment", "enrollment", "notification", "content", "storefront")
NAMESPACE = "course-platform"
RUN = uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Env:
    """A running sandbox and the environment a coursectl subprocess needs to use it."""

    state_dir: Path
    registry: str
    docker_host: str
    username: str
    password: str

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSECTL_", "DOCKER_", "BUILD_"))}
        env.update(
            COURSECTL_STATE_DIR=str(self.state_dir),
            DOCKER_HOST=self.docker_host,
            PYTHONPATH=str(REPO),
            REGISTRY_USER=self.username,
            REGISTRY_PASSWORD=self.password,
        )
        return env


@pytest.fixture(scope="module")
def build_sandbox(sandbox: Any, registry_credentials: Any, tmp_path_factory: pytest.TempPathFactory) -> Env:
    """The session's sandbox (tests/integration/conftest.py), with a fresh coursectl state dir (ledger) per run."""
    return Env(
        state_dir=tmp_path_factory.mktemp("coursectl-state"),
        registry=sandbox.registry_address(),
        docker_host=sandbox.docker_host(),
        username=registry_credentials.username,
        password=registry_credentials.password,
    )


@pytest.fixture(scope="module")
def docker_api(docker_client: Any) -> Any:
    return docker_client


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, timeout=60)
    return done.stdout.strip()


def clone(src: Path, dest: Path, registry: str) -> Path:
    """A clone of ``src`` with the registry pointed at the sandbox's, committed (a clean tree)."""
    subprocess.run(["git", "clone", "-q", str(src), str(dest)], check=True, timeout=120)
    git(dest, "config", "user.email", "test@example.invalid")
    git(dest, "config", "user.name", "coursectl tests")
    config = dest / "coursectl.yaml"
    config.write_text(config.read_text().replace("url: 127.0.0.1:5000", f"url: {registry}"))
    git(dest, "commit", "-q", "--allow-empty", "-am", "test: point the registry at the sandbox")
    return dest


def coursectl(env: Env, repo: Path, *args: str, expect: int | None = 0) -> tuple[int, Any, str]:
    done = subprocess.run(
        [sys.executable, "-m", "coursectl", *args, "-o", "json"],
        cwd=repo, env=env.environ(), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    if expect is not None:
        assert done.returncode == expect, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    doc = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, doc, done.stderr


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    return {s["service"]: s["status"] for s in doc["services"]}


def registry_client(env: Env) -> Any:
    from coursectl.adapters.registry_v2 import RegistryClient

    return RegistryClient(env.registry, username=env.username, password=env.password)


def get(url: str, timeout: float = 2.0) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return resp.status, json.loads(resp.read() or b"null")


def wait_ready(port: int, container: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if get(f"http://127.0.0.1:{port}/health/ready")[0] == 200:
                return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        container.reload()
        if container.status == "exited":
            break
        time.sleep(0.3)
    raise AssertionError(f"not ready on {port}: {last}\n{container.logs(tail=40).decode(errors='replace')}")


# --- a synthetic repository: fast, and it can fail on purpose -------------------------------------------------

FAKE_DOCKERFILE = """ARG BASE_IMAGE
FROM $BASE_IMAGE
ARG APP_VERSION=dev
ARG GIT_SHA=unknown
ENV APP_VERSION=$APP_VERSION GIT_SHA=$GIT_SHA
COPY common /app/common
COPY {svc} /app/{svc}
{extra}
RUN useradd --system --uid 10001 app
USER 10001
CMD ["python3", "-c", "import os; print(os.environ['GIT_SHA'])"]
"""


@pytest.fixture()
def fake_repo(tmp_path: Path, build_sandbox: Env) -> Path:
    repo = tmp_path / "fake"
    ctx = repo / "platform-services"
    (ctx / "common").mkdir(parents=True)
    (ctx / "common" / "lib.py").write_text("X = 1\n")
    lines = ["project: fake", "default_environment: local", "services:"]
    for i, (svc, extra) in enumerate((("good", ""), ("broken", "RUN echo about to fail && exit 3"))):
        (ctx / svc).mkdir()
        (ctx / svc / "app.py").write_text("pass\n")
        (ctx / svc / "Dockerfile").write_text(FAKE_DOCKERFILE.format(svc=svc, extra=extra))
        lines.append(f"  {svc}: {{path: platform-services/{svc}, port: {9001 + i}}}")
    lines += [
        f"registry: {{url: '{build_sandbox.registry}', namespace: fake,"
        " username: {env: REGISTRY_USER}, password: {env: REGISTRY_PASSWORD}}",
        "build: {base_image: 'coursectl/base:bookworm', parallel: 2}",
        "environments: {local: {target: docker}}",
    ]
    (repo / "coursectl.yaml").write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "config", "user.email", "t@example.invalid")
    git(repo, "config", "user.name", "t")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fake")
    return repo


def test_a_failed_build_names_the_service_and_the_others_finish(build_sandbox: Env, fake_repo: Path) -> None:
    code, doc, err = coursectl(build_sandbox, fake_repo, "build", "--push", expect=5)
    by = {s["service"]: s for s in doc["services"]}
    assert by["good"]["status"] == "built" and by["good"]["pushed"] and by["good"]["digest"]
    assert by["broken"]["status"] == "failed"
    assert any("about to fail" in line for line in by["broken"]["log_tail"])
    assert "broken" in err


def test_wrong_registry_password_is_exit_4(build_sandbox: Env, fake_repo: Path) -> None:
    env = Env(build_sandbox.state_dir, build_sandbox.registry, build_sandbox.docker_host, "coursectl", "wrong")
    code, _, err = coursectl(env, fake_repo, "build", "good", "--push", expect=4)
    assert "refused" in err


def test_unreachable_registry_is_exit_5(build_sandbox: Env, fake_repo: Path) -> None:
    config = fake_repo / "coursectl.yaml"
    config.write_text(config.read_text().replace(build_sandbox.registry, f"127.0.0.1:{free_port()}"))
    git(fake_repo, "commit", "-qam", "unreachable registry")
    _, _, err = coursectl(build_sandbox, fake_repo, "build", "good", "--push", expect=5)
    assert "unreachable" in err


# --- the real platform services ---------------------------------------------------------------------------------


def test_build_push_run_and_changed_only(build_sandbox: Env, docker_api: Any, tmp_path: Path) -> None:
    env = build_sandbox
    repo = clone(REPO, tmp_path / "repo", env.registry)
    head = git(repo, "rev-parse", "HEAD")
    branch = git(repo, "symbolic-ref", "--short", "HEAD")

    # 1. build and push all seven (the storefront's bundle is built first by its prebuild commands, npm)
    _, doc, _ = coursectl(env, repo, "build", "--push", "--parallel", "3")
    assert statuses(doc) == {s: "built" for s in SERVICES}
    reg = registry_client(env)
    digests = {}
    for s in doc["services"]:
        repo_path = f"{NAMESPACE}/{s['service']}"
        tags = set(reg.tags(repo_path))
        assert {head[:12], branch, next(t for t in s["tags"] if t.startswith("inputs-"))} <= tags
        for tag in s["tags"]:
            assert reg.manifest_digest(repo_path, tag) == s["digest"]
        digests[s["service"]] = s["digest"]
    from coursectl.ledger import open_ledger

    with open_ledger(env.state_dir) as ledger:
        pushes = {e.service: e for e in ledger.events(kinds=["push"], newest_first=False)
                  if e.outcome == "succeeded" and e.service in SERVICES}  # fmt: skip
        assert {k: v.details["digest"] for k, v in pushes.items()} == digests
        assert all(e.git_commit == head and e.details["commit_time"] for e in pushes.values())

    # 2. pull one back by digest and run it: /version shows the git sha; non-root; ready
    ports = {"user": 8001, "course": 8002, "payment": 8003, "enrollment": 8004, "notification": 8005,
             "content": 8006, "storefront": 8007}
    for service in SERVICES:
        info = docker_api.api.inspect_image(f"{env.registry}/{NAMESPACE}/{service}:{head[:12]}")
        assert info["Config"].get("User", "") not in ("", "root", "0", "0:0"), f"{service} runs as root"
        # one shared Dockerfile, told the service: its own port, database, title and program
        assert f"PORT={ports[service]}" in info["Config"]["Env"], info["Config"]["Env"]
        assert list(info["Config"]["ExposedPorts"]) == [f"{ports[service]}/tcp"]
        if service != "storefront":
            described = info["Config"]["Labels"]["org.opencontainers.image.description"]
            assert described == f"Course platform: the {service} service", described
            assert f"DATABASE_URL=sqlite:////var/lib/course-platform/{service}.db" in info["Config"]["Env"]
            assert info["Config"]["Cmd"] == ["/opt/venv/bin/platform-service"]
    local = docker_api.images.get(f"{env.registry}/{NAMESPACE}/user:{head[:12]}")
    for tag in local.tags:
        docker_api.images.remove(tag, force=True)
    pulled = docker_api.images.pull(
        f"{env.registry}/{NAMESPACE}/user@{digests['user']}",
        auth_config={"username": env.username, "password": env.password},
    )
    assert pulled.labels["org.opencontainers.image.revision"] == head
    for service in SERVICES:  # every image (user: the one pulled back by digest) runs, unprivileged
        port = free_port()
        container = docker_api.containers.run(
            f"{env.registry}/{NAMESPACE}/{service}@{digests[service]}",
            detach=True, network_mode="host",
            environment={"PORT": str(port), "HOST": "127.0.0.1", "JWT_SECRET": "integration-test-secret-0123456789"},
        )  # fmt: skip
        try:
            wait_ready(port, container)
            status, version = get(f"http://127.0.0.1:{port}/version")
            assert status == 200 and version["git_sha"].startswith(head), version
            assert version["service"] == service, version  # the program of this service, not another's
            uid = container.exec_run(["id", "-u"]).output.decode().strip()
            assert uid.isdigit() and uid != "0", f"{service} runs as uid {uid}"
            # the image's own HEALTHCHECK command, run as Docker runs it: healthy now, and not when the path is not
            image = docker_api.api.inspect_image(f"{env.registry}/{NAMESPACE}/{service}@{digests[service]}")
            test = image["Config"]["Healthcheck"]["Test"]
            assert test[0] == "CMD" and "course_healthcheck" in " ".join(test), test  # stdlib only, every 30 s
            assert image["Config"]["Healthcheck"]["Interval"] == 30 * 10**9
            check = container.exec_run(test[1:])
            assert check.exit_code == 0, check.output
            # a path no service answers (the storefront's pages answer any other path: a single-page app)
            check = container.exec_run(test[1:], environment={"HEALTH_PATH": "/api/no-such-route"})
            assert check.exit_code == 1 and b"404" in check.output, check.output
            if service == "storefront":  # nginx serves the app, its HEALTHCHECK command answers, metrics count
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/courses/1", timeout=5) as resp:  # noqa: S310
                    assert resp.status == 200 and b'<div id="root"></div>' in resp.read()
                check = container.exec_run(["python3", "/opt/storefront/storefront_runtime.py", "healthcheck"])
                assert check.exit_code == 0, check.output  # still answers, though the image's check is the above
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
                    assert b'route="/{spa}",method="GET",status="200"} 1' in resp.read()
        finally:
            container.remove(force=True)

    # 3. no change: --changed-only skips all six
    _, doc, _ = coursectl(env, repo, "build", "--push", "--changed-only")
    assert statuses(doc) == {s: "skipped" for s in SERVICES}

    # 4. a change in one service rebuilds exactly that one
    target = repo / "platform-services" / "course" / "course_service" / "__init__.py"
    target.write_text(target.read_text() + f"\n# touched by the integration test {RUN}\n")
    git(repo, "commit", "-qam", "touch course")
    _, doc, _ = coursectl(env, repo, "build", "--push", "--changed-only")
    assert statuses(doc) == {s: "built" if s == "course" else "skipped" for s in SERVICES}
    # the skipped ones still carry the new commit's tag, server-side
    new_sha = git(repo, "rev-parse", "HEAD")[:12]
    assert reg.manifest_digest(f"{NAMESPACE}/user", new_sha) == digests["user"]

    # 5. a change in common/ would rebuild the six that include it (the storefront does not: shared: []); the
    #    plan (--dry-run) is the same decision a build makes, and building six images again proves nothing new
    shared = repo / "platform-services" / "common" / "course_common" / "__init__.py"
    before = shared.read_text()
    shared.write_text(before + f"\n# touched by the integration test {RUN}\n")
    git(repo, "commit", "-qam", "touch common")
    _, doc, _ = coursectl(env, repo, "build", "--push", "--changed-only", "--dry-run")
    assert statuses(doc) == {s: "would-skip" if s == "storefront" else "would-build" for s in SERVICES}
    # ... and undone, every image already pushed for those inputs is found again
    shared.write_text(before)
    git(repo, "commit", "-qam", "untouch common")
    _, doc, _ = coursectl(env, repo, "build", "--push", "--changed-only", "--dry-run")
    assert statuses(doc) == {s: "would-skip" for s in SERVICES}

    # 5b. a change in the shared Dockerfile alone would rebuild the six Python services (not the storefront)
    dockerfile = repo / "platform-services" / "python-service.Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + f"# touched by the integration test {RUN}\n")
    git(repo, "commit", "-qam", "touch the shared Dockerfile")
    _, doc, _ = coursectl(env, repo, "build", "--push", "--changed-only", "--dry-run")
    assert statuses(doc) == {s: "would-skip" if s == "storefront" else "would-build" for s in SERVICES}

    # 6. images lists them, with the digest a (recorded) deployment runs marked
    with open_ledger(env.state_dir) as ledger:
        from coursectl.domain import LedgerEvent

        ledger.record(LedgerEvent(kind="deployment", actor="t", environment="local", service="course",
                                  outcome="succeeded", details={"digest": digests["course"]}))  # fmt: skip
    _, doc, _ = coursectl(env, repo, "images", "course")  # built in step 1, and again in step 4
    rows = {r["digest"]: r for r in doc["images"]}
    assert rows[digests["course"]]["environments"] == ["local"]
    assert len(rows) >= 2 and all(not r["environments"] for d, r in rows.items() if d != digests["course"])
