"""The build/push use cases with a fake engine and registry: parallel builds, failures, --changed-only, no-op push."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coursectl.api.build import ImageService, RegistryAccess
from coursectl.config import load_config
from coursectl.errors import PreconditionError, UsageError
from coursectl.ledger import open_ledger
from coursectl.render.tags import GitState
from coursectl.testing.images import FakeBuilder, FakeRegistry

SERVICES = ("user", "course", "payment")
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    ctx = tmp_path / "platform-services"
    (ctx / "common").mkdir(parents=True)
    (ctx / "common" / "lib.py").write_text("X = 1\n")
    lines = ["project: t", "default_environment: local", "services:"]
    for i, svc in enumerate(SERVICES):
        (ctx / svc).mkdir()
        (ctx / svc / "app.py").write_text(f"print({svc!r})\n")
        (ctx / svc / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\nARG GIT_SHA\nARG APP_VERSION\n")
        lines.append(f"  {svc}: {{path: platform-services/{svc}, port: {8001 + i}}}")
    lines += [
        "registry: {url: '127.0.0.1:5000', namespace: ns}",
        "build: {base_image: 'coursectl/base:bookworm', parallel: 3}",
        "environments: {local: {target: docker}, prod: {target: docker}}",
    ]
    (tmp_path / "coursectl.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path


class World:
    def __init__(self, repo: Path, fail: set[str] | None = None) -> None:
        self.repo = repo
        self.builder = FakeBuilder(fail)
        self.registry = FakeRegistry()
        self.builder.registry = self.registry
        self.ledger = open_ledger(repo / ".state")
        self.git = GitState(SHA, "main", commit_time=datetime(2026, 1, 1, tzinfo=UTC))
        self.events: list[tuple[str, str, str]] = []
        self.factory_calls = 0

    def service(self, **kw: Any) -> ImageService:
        def factory() -> tuple[RegistryAccess, Any]:
            self.factory_calls += 1
            return RegistryAccess("127.0.0.1:5000", "ns", "u", "p"), self.registry

        return ImageService(
            config=load_config(self.repo / "coursectl.yaml").config, root=self.repo, builder=self.builder,
            registry_factory=factory, ledger=self.ledger, git_reader=lambda root, paths: self.git,
            environ={}, actor="tester", **kw,
        )  # fmt: skip

    def progress(self, service: str, phase: str, message: str) -> None:
        self.events.append((service, phase, message))


def test_build_all_records_events(repo: Path) -> None:
    w = World(repo)
    report = w.service().build(progress=w.progress)
    assert report.ok
    assert [r.service for r in report.results] == list(SERVICES)
    assert {r.status for r in report.results} == {"built"}
    assert sorted(w.builder.builds) == sorted(SERVICES)
    assert w.factory_calls == 0  # a plain build needs no registry
    events = w.ledger.events(kinds=["build"])
    assert len(events) == 3 and {e.outcome for e in events} == {"succeeded"}
    e = events[0]
    assert e.git_commit == SHA and e.version == "0123456789ab"
    assert e.details["inputs_digest"].startswith("sha256:")
    assert e.details["commit_time"] == "2026-01-01T00:00:00+00:00"
    assert set(e.details["tags"]) >= {"0123456789ab", "main"}
    assert any(phase == "log" for _, phase, _ in w.events)
    assert w.builder.last_args == {"BASE_IMAGE": "coursectl/base:bookworm", "GIT_SHA": SHA,
                                   "APP_VERSION": "0123456789ab"}
    assert w.builder.last_labels["org.opencontainers.image.revision"] == SHA


def test_push_then_changed_only_skips_everything(repo: Path) -> None:
    w = World(repo)
    first = w.service().build(push=True)
    assert first.ok and all(r.pushed and r.digest for r in first.results)
    pushes = w.ledger.events(kinds=["push"])
    assert len(pushes) == 3 and all(p.details["digest"].startswith("sha256:") for p in pushes)
    # every tag is in the registry at the pushed digest
    for r in first.results:
        for tag in r.tags:
            assert w.registry.manifest_digest(f"ns/{r.service}", tag) == r.digest
    w.builder.builds.clear()
    again = w.service().build(push=True, changed_only=True, progress=w.progress)
    assert [r.status for r in again.results] == ["skipped"] * 3
    assert w.builder.builds == []
    assert all(r.push_noop for r in again.results)
    assert sum(1 for _, phase, _ in w.events if phase == "skip") == 3


def test_changed_only_rebuilds_exactly_what_changed(repo: Path) -> None:
    w = World(repo)
    w.service().build(push=True)
    (repo / "platform-services" / "course" / "app.py").write_text("print('new')\n")
    w.builder.builds.clear()
    report = w.service().build(push=True, changed_only=True)
    assert {r.service: r.status for r in report.results} == {"user": "skipped", "course": "built", "payment": "skipped"}
    (repo / "platform-services" / "common" / "lib.py").write_text("X = 2\n")
    report = w.service().build(push=True, changed_only=True)
    assert {r.status for r in report.results} == {"built"}


SHARED_DOCKERFILE = (
    "ARG BASE_IMAGE\nFROM $BASE_IMAGE\nARG SERVICE\nARG SERVICE_PORT\nCOPY ${SERVICE}/ /app/\n"
    "EXPOSE ${SERVICE_PORT}\nARG GIT_SHA\nARG APP_VERSION\n"
)


@pytest.fixture()
def shared_repo(repo: Path) -> Path:
    """The same services built from one Dockerfile shared by all, told the service by build arguments."""
    ctx = repo / "platform-services"
    for svc in SERVICES:
        (ctx / svc / "Dockerfile").unlink()
    (ctx / "service.Dockerfile").write_text(SHARED_DOCKERFILE)
    config = repo / "coursectl.yaml"
    text = config.read_text()
    for svc in SERVICES:
        text = text.replace(f"path: platform-services/{svc},", f"path: platform-services/{svc}, "
                            "dockerfile: platform-services/service.Dockerfile,")
    config.write_text(text)
    return repo


def test_a_shared_dockerfile_is_told_the_service_and_its_port(shared_repo: Path) -> None:
    w = World(shared_repo)
    plans = {p.service: p for p in w.service().plan(list(SERVICES), git=w.git, base_image_id="sha256:" + "b" * 64)}
    assert {s: (p.dockerfile, p.buildargs["SERVICE"], p.buildargs["SERVICE_PORT"]) for s, p in plans.items()} == {
        "user": ("service.Dockerfile", "user", "8001"),
        "course": ("service.Dockerfile", "course", "8002"),
        "payment": ("service.Dockerfile", "payment", "8003"),
    }
    assert len({p.inputs_digest for p in plans.values()}) == 3
    report = w.service().build()
    assert report.ok and sorted(w.builder.builds) == sorted(SERVICES)


def test_changed_only_with_a_shared_dockerfile(shared_repo: Path) -> None:
    w = World(shared_repo)
    w.service().build(push=True)
    ctx = shared_repo / "platform-services"

    def rebuilt() -> dict[str, str]:
        report = w.service().build(push=True, changed_only=True)
        assert report.ok
        return {r.service: r.status for r in report.results}

    assert set(rebuilt().values()) == {"skipped"}
    (ctx / "course" / "app.py").write_text("print('new')\n")  # one service's own files: that service only
    assert rebuilt() == {"user": "skipped", "course": "built", "payment": "skipped"}
    (ctx / "service.Dockerfile").write_text(SHARED_DOCKERFILE + "LABEL shared=changed\n")  # the shared definition
    assert rebuilt() == {"user": "built", "course": "built", "payment": "built"}
    config = shared_repo / "coursectl.yaml"  # a port is an input of the image (ENV PORT, EXPOSE): that one only
    config.write_text(config.read_text().replace("port: 8003", "port: 8013"))
    assert rebuilt() == {"user": "skipped", "course": "skipped", "payment": "built"}
    assert rebuilt() == {"user": "skipped", "course": "skipped", "payment": "skipped"}


def test_changed_only_without_push_uses_the_ledger(repo: Path) -> None:
    w = World(repo)
    w.service().build(push=True)
    calls = w.factory_calls
    report = w.service().build(changed_only=True)
    assert {r.status for r in report.results} == {"skipped"}
    assert w.factory_calls == calls  # the ledger answered; the registry was not needed
    assert all("inputs unchanged" in r.reason for r in report.results)


def test_a_new_commit_with_unchanged_inputs_gets_its_tags_server_side(repo: Path) -> None:
    w = World(repo)
    w.service().build(push=True)
    w.registry.retags.clear()
    w.git = GitState("f" * 40, "main")
    report = w.service().build(push=True, changed_only=True)
    assert {r.status for r in report.results} == {"skipped"}
    assert all(not r.push_noop for r in report.results)
    assert sorted(w.registry.retags) == sorted(f"ns/{s}:ffffffffffff" for s in SERVICES)


def test_one_failure_does_not_stop_the_others(repo: Path) -> None:
    w = World(repo, fail={"course"})
    report = w.service().build(push=True)
    by = {r.service: r for r in report.results}
    assert by["course"].status == "failed" and by["course"].log_tail == ("RUN false", "exit 1")
    assert by["user"].pushed and by["payment"].pushed
    assert [r.service for r in report.failed] == ["course"]
    failed = w.ledger.events(kinds=["build"], service="course")[0]
    assert failed.outcome == "failed" and failed.details["log_tail"] == ["RUN false", "exit 1"]
    assert w.ledger.events(kinds=["push"], service="course") == []


def test_pushing_what_the_registry_has_is_a_noop(repo: Path) -> None:
    w = World(repo)
    w.service().build(push=True)
    pushes = list(w.builder.pushes)
    report = w.service().push()
    assert all(r.status == "pushed" and r.push_noop for r in report.results)
    assert w.builder.pushes == pushes


def test_push_before_build_is_a_precondition(repo: Path) -> None:
    w = World(repo)
    with pytest.raises(PreconditionError, match="not built yet"):
        w.service().push(["user"])


def test_unknown_service_and_missing_base_image(repo: Path) -> None:
    w = World(repo)
    with pytest.raises(UsageError, match="unknown service: nope"):
        w.service().build(["user", "nope"])
    del w.builder.images["coursectl/base:bookworm"]
    with pytest.raises(PreconditionError, match="base image"):
        w.service().build(["user"])


def test_dry_run_changes_nothing(repo: Path) -> None:
    w = World(repo)
    report = w.service().build(push=True, dry_run=True)
    assert {r.status for r in report.results} == {"would-build"}
    assert w.builder.builds == [] and w.ledger.events() == []


def test_images_marks_what_each_environment_runs(repo: Path) -> None:
    from coursectl.domain import LedgerEvent

    w = World(repo)
    first = w.service().build(["user"], push=True)
    digest = first.results[0].digest
    w.ledger.record(LedgerEvent(kind="deployment", actor="t", environment="prod", service="user",
                                outcome="succeeded", details={"digest": digest}))  # fmt: skip
    rows = w.service().images("user")
    assert len(rows) == 1
    assert rows[0].digest == digest and rows[0].environments == ("prod",)
    assert "main" in rows[0].tags and rows[0].pushed_at


@pytest.fixture()
def web_repo(repo: Path) -> Path:
    """``repo`` plus a front end whose bundle is made by prebuild commands and includes no shared folder."""
    web = repo / "platform-services" / "web"
    (web / "src").mkdir(parents=True)
    (web / "src" / "app.ts").write_text("export const a = 1;\n")
    (web / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\nCOPY web/dist /srv\n")
    config = repo / "coursectl.yaml"
    config.write_text(config.read_text().replace(
        "registry:",
        "  web: {path: platform-services/web, port: 8080, route: /, shared: [],\n"
        "        prebuild: {run: [[npm, ci], [npm, run, build]], outputs: [dist], timeout: 60}}\nregistry:",
    ))  # fmt: skip
    return repo


def test_prebuild_commands_run_in_the_service_folder_before_its_image(web_repo: Path) -> None:
    from coursectl.testing.fakes import FakeCommands

    w = World(web_repo)
    commands = FakeCommands(output=["built dist/"])
    report = w.service(commands=commands).build(["web", "user"], progress=w.progress)
    assert report.ok
    web_dir = str((web_repo / "platform-services" / "web").resolve())
    assert [(argv, cwd) for argv, cwd, _ in commands.calls] == [(("npm", "ci"), web_dir), (("npm", "run", "build"), web_dir)]
    assert all(0 < timeout <= 60 for _, _, timeout in commands.calls)
    web_events = [e for e in w.events if e[0] == "web"]
    phases = [phase for _, phase, _ in web_events]
    assert phases.index("prebuild") < phases.index("build")
    assert ("web", "log", "built dist/") in web_events
    assert not any(e[0] == "user" and e[1] == "prebuild" for e in w.events)


def test_a_failed_prebuild_fails_that_service_only_and_builds_no_image(web_repo: Path) -> None:
    from coursectl.testing.fakes import FakeCommands

    w = World(web_repo)
    report = w.service(commands=FakeCommands(fail={"npm": 1}, output=["npm ERR! missing script"])).build(
        ["web", "user"]
    )
    by = {r.service: r for r in report.results}
    assert by["web"].status == "failed" and "npm ci failed" in by["web"].reason
    assert "npm ERR! missing script" in by["web"].log_tail
    assert by["user"].status == "built"
    assert "web" not in w.builder.builds
    [event] = [e for e in w.ledger.events(kinds=["build"]) if e.service == "web"]
    assert event.outcome == "failed"


def test_prebuild_outputs_and_unshared_folders_are_not_inputs(web_repo: Path) -> None:
    w = World(web_repo)
    svc = w.service()
    digest = lambda: {p.service: p.inputs_digest for p in svc.plan(["web", "user"], git=w.git, base_image_id="b")}  # noqa: E731
    before = digest()
    web = web_repo / "platform-services" / "web"
    (web / "dist").mkdir()
    (web / "dist" / "index.html").write_text("<p>built</p>")
    (web / "node_modules" / "x").mkdir(parents=True)
    (web / "node_modules" / "x" / "i.js").write_text("1")
    assert digest() == before  # what the prebuild writes (and node_modules) changes nothing
    (web_repo / "platform-services" / "common" / "lib.py").write_text("X = 2\n")
    after_common = digest()
    assert after_common["web"] == before["web"] and after_common["user"] != before["user"]
    (web / "src" / "app.ts").write_text("export const a = 2;\n")
    assert digest()["web"] != after_common["web"]  # a source change is a new image


def test_prebuild_without_a_command_runner_is_a_failed_build(web_repo: Path) -> None:
    w = World(web_repo)
    [result] = w.service().build(["web"]).results
    assert result.status == "failed" and "no command runner" in result.reason
