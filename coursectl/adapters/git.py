"""Git through the subprocess runner: the work tree's state (head, branch, dirty, tags, commit time) and the
commits a deployment brought."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from coursectl.adapters.process import run
from coursectl.errors import ExternalError, PreconditionError
from coursectl.render.tags import GitState

TIMEOUT = 20.0
GIT_TIMEOUT = 60.0


def _git(root: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
    done = run(
        ["git", "-C", str(root), *args],
        timeout=TIMEOUT,
        ok_codes=ok_codes,
        hint="coursectl reads the commit being built from git",
    )
    return done.returncode, done.stdout.strip()


def head_sha(root: Path) -> str:
    """The full sha of HEAD; PreconditionError when ``root`` is not in a git repository with a commit."""
    try:
        return _git(root, "rev-parse", "--verify", "HEAD")[1]
    except ExternalError as exc:
        raise PreconditionError(
            f"{root} is not a git work tree with a commit: {exc.message}",
            hint="build from a git checkout (coursectl tags images with the commit)",
        ) from exc


def branch(root: Path) -> str | None:
    """The current branch, None on a detached HEAD."""
    code, out = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD", ok_codes=(0, 1, 128))
    return out if code == 0 and out else None


def dirty(root: Path, paths: tuple[str, ...] = ()) -> bool:
    """True when tracked files are modified or untracked, not ignored files exist (below ``paths``)."""
    args = ["status", "--porcelain", "--untracked-files=normal"]
    if paths:
        args += ["--", *paths]
    return bool(_git(root, *args)[1])


def tags_at_head(root: Path) -> tuple[str, ...]:
    """The tags pointing at HEAD."""
    out = _git(root, "tag", "--points-at", "HEAD")[1]
    return tuple(line for line in out.splitlines() if line.strip())


def commit_time(root: Path) -> datetime:
    """The committer time of HEAD (aware)."""
    return datetime.fromisoformat(_git(root, "show", "-s", "--format=%cI", "HEAD")[1])


def remote_url(root: Path, name: str = "origin") -> str | None:
    """The URL of a remote, None when there is none."""
    code, out = _git(root, "remote", "get-url", name, ok_codes=(0, 1, 2, 128))
    return out if code == 0 and out else None


def toplevel(root: Path) -> Path:
    """The top folder of the work tree containing ``root``."""
    return Path(_git(root, "rev-parse", "--show-toplevel")[1])


def state(root: Path, paths: tuple[str, ...] = ()) -> GitState:
    """Everything the tag policy needs; ``dirty`` looks only below ``paths`` (the build context) when given."""
    sha = head_sha(root)
    return GitState(
        sha=sha,
        branch=branch(root),
        dirty=dirty(root, paths),
        tags=tags_at_head(root),
        commit_time=commit_time(root),
    )


# history for DORA lead time --------------------------------------------------------------------------------
def log_argv(repo: Path, sha: str, base: str | None, paths: Sequence[str]) -> list[str]:
    """``git log`` listing the non-merge commits reachable from ``sha`` and not from ``base``, touching
    ``paths`` (all paths when empty), as ``<sha> <committer time in Unix seconds>`` lines."""
    argv = ["git", "-C", os.fspath(repo), "log", "--no-merges", "--full-history", "--format=%H %ct", sha]
    if base:
        argv.append(f"^{base}")
    argv.append("--")
    argv.extend(paths)
    return argv


def parse_log(stdout: str) -> list[tuple[str, float]]:
    """(sha, committed_at) pairs from the output of ``log_argv``."""
    out: list[tuple[str, float]] = []
    for line in stdout.splitlines():
        line = line.strip()
        if line:
            sha, _, ts = line.partition(" ")
            out.append((sha, float(ts)))
    return out


def commits_between(
    repo: Path, sha: str, base: str | None, paths: Sequence[str], *, timeout: float = GIT_TIMEOUT
) -> list[tuple[str, float]]:
    """The commits ``sha`` brings over ``base`` within ``paths``; ExternalError when git fails (unknown sha)."""
    return parse_log(
        run(
            log_argv(repo, sha, base, paths),
            timeout=timeout,
            hint="fetch the deployed commits into the repository (metrics.repository)",
        ).stdout
    )
