"""Shared fixtures: an isolated state directory and a small valid configuration for every test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

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
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state directory and no inherited coursectl settings."""
    state = tmp_path / "state"
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(state))
    for name in ("COURSECTL_CONFIG", "COURSECTL_ENV", "COURSECTL_OUTPUT", "COURSECTL_DEBUG", "COURSECTL_ACTOR"):
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
