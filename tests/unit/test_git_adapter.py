"""The git adapter against a real (tiny) repository: branch, detached HEAD, dirty, tags, commit time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from coursectl.adapters import git
from coursectl.errors import PreconditionError


def sh(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()  # fmt: skip


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "feature/Login", str(tmp_path)], check=True, timeout=30)
    sh(tmp_path, "config", "user.email", "t@example.invalid")
    sh(tmp_path, "config", "user.name", "t")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "a.py").write_text("a\n")
    (tmp_path / "README.md").write_text("r\n")
    sh(tmp_path, "add", "-A")
    sh(tmp_path, "commit", "-qm", "one")
    return tmp_path


def test_clean_branch(repo: Path) -> None:
    state = git.state(repo)
    assert state.sha == sh(repo, "rev-parse", "HEAD") and len(state.sha) == 40
    assert state.branch == "feature/Login"
    assert not state.dirty and state.tags == ()
    assert state.commit_time is not None and state.commit_time.tzinfo is not None


def test_dirty_only_below_the_given_paths(repo: Path) -> None:
    (repo / "README.md").write_text("changed\n")
    assert git.state(repo).dirty
    assert not git.state(repo, ("ctx",)).dirty
    (repo / "ctx" / "new.py").write_text("untracked\n")
    assert git.state(repo, ("ctx",)).dirty


def test_detached_head_and_tags(repo: Path) -> None:
    sh(repo, "tag", "v1.2.3")
    sh(repo, "checkout", "-q", "--detach")
    state = git.state(repo)
    assert state.branch is None
    assert state.tags == ("v1.2.3",)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(PreconditionError, match="not a git work tree"):
        git.head_sha(tmp_path)
