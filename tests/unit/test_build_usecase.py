"""The build/push use cases with a fake engine and registry: parallel builds, failures, --changed-only, no-op push."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coursectl.adapters.docker_engine import BuildFailed, BuildResult, PushResult
from coursectl.adapters.registry_v2 import TagInfo
from coursectl.api.build import ImageService, RegistryAccess
from coursectl.config import load_config
from coursectl.errors import PreconditionError, UsageError
from coursectl.ledger import open_ledger
from coursectl.render.tags import GitState

SERVICES = ("user", "course", "payment")
SHA = "0123456789abcdef0123456789abcdef01234567"
BASE_ID = "sha256:" + "b" * 64


class FakeBuilder:
    def __init__(self, fail: set[str] | None = None) -> None:
        self.images: dict[str, str] = {"coursectl/base:bookworm": BASE_ID}
        self.repo_digest: dict[str, list[str]] = {}
        self.fail = fail or set()
        self.builds: list[str] = []
        self.pushes: list[str] = []
        self.registry: FakeRegistry | None = None
        self.lock = threading.Lock()

    def ping(self) -> None:
        pass

    def image_id(self, ref: str) -> str | None:
        return self.images.get(ref)

    def repo_digests(self, ref: str) -> list[str]:
        return self.repo_digest.get(self.images.get(ref, ""), [])

    def build(self, *, context: Path, dockerfile: str, tag: str, buildargs: Mapping[str, str],
              labels: Mapping[str, str], on_line: Callable[[str], None] | None = None, **_: Any) -> BuildResult:
        service = dockerfile.split("/")[0]
        with self.lock:
            self.builds.append(service)
        if on_line:
            on_line("Step 1/3 : FROM coursectl/base:bookworm")
        assert buildargs["BASE_IMAGE"] == "coursectl/base:bookworm"
        assert labels["org.opencontainers.image.revision"] == SHA
        if service in self.fail:
            raise BuildFailed(f"build of {tag} failed: exit 1", details={"log_tail": ["RUN false", "exit 1"]})
        image_id = "sha256:" + (service[0] * 64)
        with self.lock:
            self.images[tag] = image_id
        return BuildResult(image_id, ("done",))

    def tag(self, image: str, repository: str, tag: str) -> None:
        with self.lock:
            self.images[f"{repository}:{tag}"] = self.images.get(image, image)

    def push(self, repository: str, tag: str, *, auth: Mapping[str, str] | None, registry: str,
             on_line: Callable[[str], None] | None = None) -> PushResult:
        assert auth == {"username": "u", "password": "p", "serveraddress": "127.0.0.1:5000"}
        image_id = self.images[f"{repository}:{tag}"]
        digest = "sha256:" + image_id[-1] * 63 + "d"
        with self.lock:
            self.pushes.append(f"{repository}:{tag}")
            self.repo_digest.setdefault(image_id, []).append(f"{repository}@{digest}")
        assert self.registry is not None
        self.registry.set(repository.split("/", 1)[1], tag, digest)
        return PushResult(tag, digest, True)


class FakeRegistry:
    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str], str] = {}
        self.retags: list[str] = []
        self.lock = threading.Lock()

    def set(self, repo: str, tag: str, digest: str) -> None:
        with self.lock:
            self.manifests[(repo, tag)] = digest

    def ping(self) -> None:
        pass

    def tags(self, repo: str) -> list[str]:
        return sorted(t for r, t in self.manifests if r == repo)

    def manifest_digest(self, repo: str, ref: str) -> str | None:
        if ref.startswith("sha256:"):
            return ref if ref in self.manifests.values() else None
        return self.manifests.get((repo, ref))

    def tag_info(self, repo: str, tag: str) -> TagInfo:
        return TagInfo(tag, self.manifest_digest(repo, tag))

    def image_config(self, repo: str, ref: str) -> dict[str, Any]:
        return {"created": "2026-01-01T00:00:00Z", "config": {"Labels": {"org.opencontainers.image.version": "v"}}}

    def put_tag(self, repo: str, source_ref: str, tag: str) -> str:
        digest = self.manifest_digest(repo, source_ref)
        assert digest
        self.set(repo, tag, digest)
        self.retags.append(f"{repo}:{tag}")
        return digest


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
