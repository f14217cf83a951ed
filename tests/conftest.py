"""Shared fixtures: an isolated state directory and a CLI runner that returns (exit code, stdout, stderr)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(path))
    monkeypatch.delenv("COURSECTL_CONFIG", raising=False)
    monkeypatch.delenv("COURSECTL_ENV", raising=False)
    monkeypatch.delenv("COURSECTL_OUTPUT", raising=False)
    return path


@pytest.fixture
def cli(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., tuple[int, str, str]]]:
    from coursectl.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield invoke


def fixtures_dir() -> Path | None:
    """The shared real tool-output samples: $COURSECTL_FIXTURES or <repo>/../shared/fixtures."""
    explicit = os.environ.get("COURSECTL_FIXTURES")
    candidates = [Path(explicit)] if explicit else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared" / "fixtures")
    for c in candidates:
        if c.is_dir():
            return c
    return None
