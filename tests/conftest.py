"""Shared test helpers: where the real tool-output samples are, and a private state directory per test."""

from __future__ import annotations

import os
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


@pytest.fixture(autouse=True)
def _private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(state))
    monkeypatch.setenv("COURSECTL_ACTOR", "tester")
    for name in ("COURSECTL_CONFIG", "COURSECTL_ENV", "COURSECTL_OUTPUT", "COURSECTL_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return state
