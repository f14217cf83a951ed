"""The inputs digest: same inputs → same digest; what changes it and what does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coursectl.images.inputs import input_files, inputs_digest

SERVICES = ("user", "course", "payment")
BASE = "sha256:" + "0" * 64


@pytest.fixture()
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "platform-services"
    (root / "common" / "course_common").mkdir(parents=True)
    (root / "common" / "course_common" / "__init__.py").write_text("VERSION = 1\n")
    (root / "common" / "pyproject.toml").write_text("[project]\nname='course-common'\n")
    for svc in SERVICES:
        pkg = root / svc / f"{svc}_service"
        pkg.mkdir(parents=True)
        (pkg / "main.py").write_text(f"print({svc!r})\n")
        (root / svc / "tests").mkdir()
        (root / svc / "tests" / "test_main.py").write_text("def test(): pass\n")
        (root / svc / "Dockerfile").write_text(f"ARG BASE_IMAGE\nFROM $BASE_IMAGE\nCOPY {svc} /app\n")
    return root


def digests(ctx: Path, base: str = BASE) -> dict[str, str]:
    return {
        svc: inputs_digest(ctx, ctx / svc, [ctx / "common"], ctx / svc / "Dockerfile", base) for svc in SERVICES
    }


def test_same_inputs_same_digest(ctx: Path) -> None:
    first = digests(ctx)
    assert first == digests(ctx)
    assert len(set(first.values())) == len(SERVICES)
    assert all(d.startswith("sha256:") and len(d) == 71 for d in first.values())


def test_file_times_and_listing_order_do_not_matter(ctx: Path) -> None:
    first = digests(ctx)
    for path in ctx.rglob("*"):
        os.utime(path, (1, 1))
    assert digests(ctx) == first


def test_a_touched_file_in_common_changes_every_service(ctx: Path) -> None:
    first = digests(ctx)
    (ctx / "common" / "course_common" / "__init__.py").write_text("VERSION = 2\n")
    second = digests(ctx)
    assert all(first[s] != second[s] for s in SERVICES)


def test_a_change_in_one_service_changes_only_that_one(ctx: Path) -> None:
    first = digests(ctx)
    (ctx / "course" / "course_service" / "main.py").write_text("print('changed')\n")
    second = digests(ctx)
    assert [s for s in SERVICES if first[s] != second[s]] == ["course"]


@pytest.mark.parametrize(
    "change",
    [
        lambda c: (c / "user" / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM $BASE_IMAGE\n"),
        lambda c: (c / "user" / "tests" / "test_main.py").write_text("def test(): assert 1\n"),
        lambda c: (c / "user" / "new.txt").write_text("x"),
        lambda c: (c / "user" / "user_service" / "main.py").rename(c / "user" / "user_service" / "app.py"),
        lambda c: (c / "user" / "user_service" / "main.py").chmod(0o755),
    ],
    ids=["dockerfile", "tests-are-inputs", "new-file", "rename", "exec-bit"],
)
def test_what_changes_the_digest(ctx: Path, change) -> None:  # type: ignore[no-untyped-def]
    before = digests(ctx)["user"]
    change(ctx)
    assert digests(ctx)["user"] != before


@pytest.mark.parametrize(
    "noise",
    [
        "user/user_service/__pycache__/main.cpython-311.pyc",
        "user/user_service/main.pyc",
        "user/.venv/lib/site.py",
        "user/user_service.egg-info/PKG-INFO",
        "user/.pytest_cache/v/cache",
        "common/.mypy_cache/x.json",
    ],
)
def test_what_does_not(ctx: Path, noise: str) -> None:
    before = digests(ctx)["user"]
    path = ctx / noise
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("noise")
    assert digests(ctx)["user"] == before


def test_base_image_id_is_an_input(ctx: Path) -> None:
    assert digests(ctx) != digests(ctx, base="sha256:" + "1" * 64)


def test_dockerignore_is_honoured(ctx: Path) -> None:
    before = digests(ctx)["user"]
    (ctx / ".dockerignore").write_text("**/*.log\nuser/docs\n!user/docs/keep.md\n")
    base = digests(ctx)["user"]
    (ctx / "user" / "debug.log").write_text("x")
    (ctx / "user" / "docs").mkdir()
    (ctx / "user" / "docs" / "draft.md").write_text("x")
    assert digests(ctx)["user"] == base == before
    (ctx / "user" / "docs" / "keep.md").write_text("x")
    assert digests(ctx)["user"] != base


def test_input_files_are_sorted_and_relative(ctx: Path) -> None:
    files = input_files(ctx, [ctx / "user", ctx / "common"], [ctx / "user" / "Dockerfile"])
    paths = [f.path for f in files]
    assert paths == sorted(paths)
    assert "user/Dockerfile" in paths and "common/course_common/__init__.py" in paths
    assert len(paths) == len(set(paths))
