"""`coursectl build|push|images` through main(): human and json output, exit codes 0, 2, 4, 5."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coursectl.api.build import ImageService, RegistryAccess
from coursectl.cli import main
from coursectl.render.tags import GitState
from coursectl.testing.images import FakeBuilder, FakeRegistry

SHA = "0123456789abcdef0123456789abcdef01234567"
SERVICES = ("user", "course")


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ctx = tmp_path / "platform-services"
    (ctx / "common").mkdir(parents=True)
    (ctx / "common" / "lib.py").write_text("X = 1\n")
    lines = ["project: t", "default_environment: local", "services:"]
    for i, svc in enumerate(SERVICES):
        (ctx / svc).mkdir()
        (ctx / svc / "app.py").write_text("pass\n")
        (ctx / svc / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\n")
        lines.append(f"  {svc}: {{path: platform-services/{svc}, port: {8001 + i}}}")
    lines += [
        "registry: {url: '127.0.0.1:5000', namespace: ns}",
        "build: {base_image: 'coursectl/base:bookworm'}",
        "environments: {local: {target: docker}}",
    ]
    (tmp_path / "coursectl.yaml").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("COURSECTL_CONFIG", str(tmp_path / "coursectl.yaml"))
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(tmp_path / ".state"))
    monkeypatch.delenv("COURSECTL_ENV", raising=False)
    monkeypatch.delenv("COURSECTL_OUTPUT", raising=False)
    return tmp_path


@pytest.fixture()
def fakes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeBuilder, FakeRegistry]]:
    builder, registry = FakeBuilder(), FakeRegistry()
    builder.registry = registry

    def image_service(loaded: Any, *, state_dir: Path, ledger: Any, **_: Any) -> ImageService:
        return ImageService(
            config=loaded.config, root=loaded.root, builder=builder,
            registry_factory=lambda: (RegistryAccess("127.0.0.1:5000", "ns", "u", "p"), registry),
            ledger=ledger, git_reader=lambda root, paths: GitState(SHA, "main", commit_time=datetime.now(UTC)),
            environ={},
        )  # fmt: skip

    monkeypatch.setattr("coursectl.wiring.image_service", image_service)
    yield builder, registry


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_push_human(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "build", "--push")
    assert code == 0
    assert "user" in out and "course" in out and "pushed" in out
    assert "user: building" in err  # plain progress lines when not on a terminal


def test_build_json_then_changed_only(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "build", "--push", "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] and [s["status"] for s in doc["services"]] == ["built", "built"]
    assert all(s["digest"].startswith("sha256:") for s in doc["services"])
    code, out, _ = run(capsys, "build", "--push", "--changed-only", "-o", "json")
    assert code == 0
    assert [s["status"] for s in json.loads(out)["services"]] == ["skipped", "skipped"]


def test_quiet_prints_digests(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "build", "user", "--push", "-o", "quiet")
    assert code == 0
    assert out.strip().startswith("sha256:") and len(out.strip().splitlines()) == 1


def test_failure_names_the_service_shows_the_log_and_exits_5(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    builder, _ = fakes
    builder.fail = {"course"}
    code, out, err = run(capsys, "build")
    assert code == 5
    assert "course failed" in out and "RUN false" in out
    assert "1 of 2 failed: course" in err
    code, out, err = run(capsys, "build", "-o", "json")
    assert code == 5
    doc = json.loads(out)
    by = {s["service"]: s for s in doc["services"]}
    assert by["user"]["status"] == "built" and by["course"]["status"] == "failed"
    lines = [json.loads(line) for line in err.splitlines()]  # -o json: stderr is JSON lines, the error last
    assert [line["type"] for line in lines[:-1]] == ["progress"] * (len(lines) - 1) and len(lines) > 1
    assert lines[-1]["type"] == "error" and lines[-1]["error"]["exit_code"] == 5


def test_unknown_service_exits_2(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "build", "nope", "-o", "json")
    assert code == 2
    assert json.loads(err)["error"]["message"] == "unknown service: nope"


def test_invalid_extra_tag_exits_2(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "build", "--tag", "Not Valid", "--dry-run")
    assert code == 2 and "not a valid image tag" in err


def test_dry_run(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    builder, _ = fakes
    code, out, _ = run(capsys, "build", "--push", "--dry-run", "-o", "json")
    assert code == 0 and json.loads(out)["dry_run"] is True
    assert builder.builds == []


def test_push_and_images(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "build")[0] == 0
    code, out, _ = run(capsys, "push", "-o", "json")
    assert code == 0 and all(s["pushed"] for s in json.loads(out)["services"])
    code, out, _ = run(capsys, "images", "user", "-o", "json")
    assert code == 0
    images = json.loads(out)["images"]
    assert len(images) == 1 and "main" in images[0]["tags"]
    code, out, _ = run(capsys, "images", "user")
    assert code == 0 and "main" in out


def test_no_engine_exits_4_with_the_sandbox_hint(repo: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{repo}/no-such.sock")
    code, _, err = run(capsys, "build", "-o", "json")
    assert code == 4
    error = json.loads(err)["error"]
    assert "coursectl sandbox up" in error["hint"]
