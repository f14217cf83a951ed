"""A small hand-checked deployment history: a git repository with two services and a JSONL ledger file.

Times are UTC; the report time zone is Europe/Berlin, whose DST ended on Sunday 2026-10-25 at 01:00 UTC.
The expected values in tests/cli/test_metrics_dora.py are worked out by hand from the table below.

git (main): C0 09-20 08:00 all three folders · C1 10-05 09:00 payment · [feature: F1 10-06 08:00, F2 10-06
09:00 payment] · C2 10-05 11:00 course (monorepo neighbour) · S1 10-06 12:00 squash of feature ·
[feature2 from S1: G1 10-09 08:00 payment] · C3 10-10 08:00 common (shared) · M1 10-10 08:30 merge of feature2 ·
C4 10-10 09:00 payment · C5 10-24 20:00 payment · C6 10-26 08:00 payment · C7 10-28 10:00 payment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from coursectl.adapters.process import run


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def _git(repo: Path, *args: str, when: str | None = None) -> str:
    env = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org", "GIT_COMMITTER_NAME": "Dev",
           "GIT_COMMITTER_EMAIL": "dev@example.org", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_SYSTEM": "/dev/null"}
    if when:
        stamp = f"@{_epoch(when)} +0000"
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    return run(["git", "-C", str(repo), *args], timeout=30, env=env).stdout.strip()


def _commit(repo: Path, when: str, message: str, *files: str) -> str:
    for name in files:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{message}\n")
        _git(repo, "add", name)
    _git(repo, "commit", "-q", "-m", message, when=when)
    return _git(repo, "rev-parse", "HEAD")


def make_repo(repo: Path) -> dict[str, str]:
    """Create the repository; returns the shas by name."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    pay, course, common = ("platform-services/payment/app.py", "platform-services/course/app.py",
                           "platform-services/common/lib.py")
    c: dict[str, str] = {}
    c["C0"] = _commit(repo, "2026-09-20T08:00:00", "C0 initial", pay, course, common)
    c["C1"] = _commit(repo, "2026-10-05T09:00:00", "C1 payment", pay)
    _git(repo, "checkout", "-q", "-b", "feature")
    c["F1"] = _commit(repo, "2026-10-06T08:00:00", "F1 payment feature", "platform-services/payment/f.py")
    c["F2"] = _commit(repo, "2026-10-06T09:00:00", "F2 payment feature", "platform-services/payment/f.py")
    _git(repo, "checkout", "-q", "main")
    c["C2"] = _commit(repo, "2026-10-05T11:00:00", "C2 course", course)
    _git(repo, "merge", "-q", "--squash", "feature")
    _git(repo, "commit", "-q", "-m", "S1 squash of feature", when="2026-10-06T12:00:00")
    c["S1"] = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "-b", "feature2")
    c["G1"] = _commit(repo, "2026-10-09T08:00:00", "G1 payment", "platform-services/payment/g.py")
    _git(repo, "checkout", "-q", "main")
    c["C3"] = _commit(repo, "2026-10-10T08:00:00", "C3 common", common)
    _git(repo, "merge", "-q", "--no-ff", "-m", "M1 merge feature2", "feature2", when="2026-10-10T08:30:00")
    c["M1"] = _git(repo, "rev-parse", "HEAD")
    c["C4"] = _commit(repo, "2026-10-10T09:00:00", "C4 payment", pay)
    c["C5"] = _commit(repo, "2026-10-24T20:00:00", "C5 payment", pay)
    c["C6"] = _commit(repo, "2026-10-26T08:00:00", "C6 payment fix", pay)
    c["C7"] = _commit(repo, "2026-10-28T10:00:00", "C7 payment hotfix", pay)
    return c


def records(c: dict[str, str]) -> list[dict[str, object]]:
    """The ledger history. Payment lists no commits (they come from git); course lists them."""

    def dep(service: str, version: str, commit: str, started: str, finished: str, status: str, *,
            env: str = "prod", hotfix: bool = False, commits: list[tuple[str, str]] | None = None) -> dict[str, object]:
        rec: dict[str, object] = {"kind": "deployment", "service": service, "environment": env, "version": version,
                                  "commit": commit, "started_at": started, "finished_at": finished, "status": status}
        if hotfix:
            rec["hotfix"] = True
        if commits is not None:
            rec["commits"] = [{"sha": s, "committed_at": t} for s, t in commits]
        return rec

    return [
        # previous window (2026-08-31 .. 2026-10-01 Berlin)
        dep("course", "2.0.0", "c0ffee00", "2026-09-10T09:55:00Z", "2026-09-10T10:00:00Z", "failed",
            commits=[("c0ffee00", "2026-09-10T09:00:00Z")]),
        dep("course", "2.0.0", "c0ffee00", "2026-09-10T10:55:00Z", "2026-09-10T11:00:00Z", "succeeded",
            commits=[("c0ffee00", "2026-09-10T09:00:00Z")]),
        dep("payment", "1.0.0", c["C0"], "2026-09-21T09:55:00Z", "2026-09-21T10:00:00Z", "succeeded"),
        # the window: 2026-10-01 00:00 CEST (09-30T22:00Z) .. 2026-11-01 00:00 CET (10-31T23:00Z)
        dep("course", "2.1.0", "c0ffee01", "2026-09-30T22:20:00Z", "2026-09-30T22:30:00Z", "succeeded",
            commits=[("c0ffee01", "2026-09-30T20:30:00+00:00")]),
        dep("payment", "1.1.0", c["S1"], "2026-10-06T13:50:00Z", "2026-10-06T14:00:00Z", "succeeded"),
        dep("payment", "1.2.0", c["C4"], "2026-10-10T09:50:00Z", "2026-10-10T10:00:00Z", "failed"),
        dep("payment", "1.2.0", c["C4"], "2026-10-10T10:20:00Z", "2026-10-10T10:30:00Z", "succeeded"),
        dep("payment", "1.2.0", c["C4"], "2026-10-12T10:00:00Z", "2026-10-12T10:05:00Z", "succeeded", env="staging"),
        dep("course", "2.2.0", "c0ffee02", "2026-10-15T11:50:00Z", "2026-10-15T12:00:00Z", "rolled_back",
            commits=[("c0ffee02", "2026-10-15T10:00:00Z")]),
        dep("course", "2.2.1", "c0ffee03", "2026-10-15T12:35:00Z", "2026-10-15T12:45:00Z", "succeeded",
            commits=[("c0ffee02", "2026-10-15T10:00:00Z"), ("c0ffee03", "2026-10-15T14:00:00+02:00")]),
        dep("payment", "1.3.0", c["C5"], "2026-10-25T22:20:00Z", "2026-10-25T22:30:00Z", "succeeded"),
        {"kind": "rollback", "service": "payment", "environment": "prod", "from_version": "1.3.0",
         "to_version": "1.2.0", "started_at": "2026-10-25T22:55:00Z", "finished_at": "2026-10-25T23:00:00Z",
         "status": "succeeded", "reason": "error rate"},
        dep("payment", "1.3.1", c["C6"], "2026-10-26T08:50:00Z", "2026-10-26T09:00:00Z", "succeeded"),
        dep("payment", "1.3.2", c["C7"], "2026-10-28T10:10:00Z", "2026-10-28T10:20:00Z", "succeeded", hotfix=True),
        # after the window: 2026-11-01 00:30 CET
        dep("payment", "1.4.0", c["C7"], "2026-10-31T23:20:00Z", "2026-10-31T23:30:00Z", "succeeded"),
    ]


def write_jsonl(path: Path, recs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


CONFIG = """\
project: fixture
services:
  payment: {path: platform-services/payment, port: 8003}
  course: {path: platform-services/course, port: 8002}
registry: {url: 127.0.0.1:5000}
environments:
  prod: {target: docker}
  staging: {target: docker}
metrics:
  environment: prod
  timezone: Europe/Berlin
  repository: repo
  shared_paths: [platform-services/common]
  min_deployments: 5
"""
