"""Git history through the subprocess runner: which commits a deployment brought, and when."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from coursectl.adapters.process import run

GIT_TIMEOUT = 60.0


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
    return parse_log(run(log_argv(repo, sha, base, paths), timeout=timeout,
                         hint="fetch the deployed commits into the repository (metrics.repository)").stdout)
