"""Shared test helpers: a private state directory per test, a small valid configuration, and where the real
tool-output samples are."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def fixtures_root() -> Path:
    """``$COURSECTL_FIXTURES``, else ``shared/fixtures`` beside the repository (as CI clones it)."""
    explicit = os.environ.get("COURSECTL_FIXTURES")
    return Path(explicit) if explicit else REPO.parent / "shared" / "fixtures"


FIXTURES = fixtures_root()
NO_FIXTURES = (
    f"real tool-output samples not found at {FIXTURES} (clone shared/ beside the repository or set "
    "COURSECTL_FIXTURES)"
)
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)


def fixture_files(pattern: str) -> list[Path]:
    """Sample files matching ``pattern`` under the fixtures folder (empty when it is absent)."""
    return sorted(FIXTURES.glob(pattern)) if FIXTURES.is_dir() else []


MINIMAL_CONFIG = """\
project: demo
default_environment: local
services:
  user: {path: platform-services/user, port: 8001}
  course: {path: platform-services/course, port: 8002}
registry:
  url: 127.0.0.1:5000
  username: {env: DEMO_REGISTRY_USER}
  password: {env: DEMO_REGISTRY_PASSWORD}
environments:
  local: {target: docker, strategy: blue-green}
  prod: {target: kubernetes, context: prod, namespace: course-prod, strategy: canary,
         steps: [{weight: 10, pause: 1m}, {weight: 100}]}
"""


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own (not yet created) state directory and no inherited coursectl settings."""
    state = tmp_path_factory.mktemp("isolated") / "state"
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(state))
    monkeypatch.setenv("COURSECTL_ACTOR", "tester")
    # a rollback's detached finisher (coursectl/api/finisher.py) would outlive the test and its fixtures (a stand-in
    # API server): rollbacks finish before they return, except in the tests of the hand-off, which unset this
    monkeypatch.setenv("COURSECTL_ROLLBACK_WAIT", "1")
    for name in ("COURSECTL_CONFIG", "COURSECTL_ENV", "COURSECTL_OUTPUT", "COURSECTL_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return state


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A small valid coursectl.yaml in its own folder."""
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "coursectl.yaml"
    path.write_text(MINIMAL_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def state_dir(isolated_state: Path) -> Path:
    """The test's state directory (the same as ``isolated_state``)."""
    return isolated_state


@pytest.fixture
def cli(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process: ``cli("history", "-o", "json")`` → (exit code, stdout, stderr)."""
    from coursectl.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def fixtures_dir() -> Path | None:
    """The shared real tool-output samples, or None when they are absent."""
    return FIXTURES if FIXTURES.is_dir() else None
