"""The rollout commands in-process: dry-run plans, status shapes, usage errors — no edge or engine needed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.cli import main
from coursectl.testing.drill import Drill


@pytest.fixture
def drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Drill]:
    d = Drill(tmp_path)
    for key in ("COURSECTL_STATE_DIR", "COURSECTL_CONFIG", "COURSECTL_ACTOR"):
        monkeypatch.setenv(key, d.env[key])
    yield d
    d.cleanup()  # a rollback starts the edge to read the live state


def test_status_json_shape_without_edge_or_metrics(drill: Drill, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"edge_url", "services"}
    (svc,) = data["services"]
    assert set(svc) >= {"name", "version", "digest", "slots", "weights", "health", "lock"}
    assert svc["name"] == "course" and svc["health"] == "down"
    assert "the edge is not running" in data["problems"]


def test_deploy_without_a_version_and_nothing_pushed_says_what_exists(
    drill: Drill, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "course"]) == 4
    err = capsys.readouterr().err
    assert "no image of course was built and pushed for" in err
    assert "no push of it is recorded" in err and "coursectl images course" in err


def test_deploy_unknown_strategy_is_usage(drill: Drill) -> None:
    assert main(["deploy", "course", "--version", "v1", "--strategy", "yolo"]) == 2


def test_rollout_status_without_rollouts(drill: Drill, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollout", "status", "course", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rollout"] is None


def test_resume_without_rollout_is_a_precondition(drill: Drill, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollout", "resume", "course", "-o", "json"]) == 4
    assert json.loads(capsys.readouterr().err)["error"]["type"] == "precondition"


def test_rollback_with_nothing_recorded(drill: Drill, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rollback", "course"])
    assert code == 4
    assert "no earlier good version" in capsys.readouterr().err
    main(["lock", "list", "-o", "json"])
    assert json.loads(capsys.readouterr().out)["locks"] == []  # the rollback released its lock


def _hold(actor: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSECTL_ACTOR", actor)
    assert main(["lock", "acquire", *args, "--reason", "db maintenance", "--ttl", "1h"]) == 0


def _lock_events(capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    main(["history", "-o", "json", "-k", "lock.takeover", "-k", "lock.release", "-k", "lock.acquire"])
    return [e["kind"] + ":" + e["actor"] for e in json.loads(capsys.readouterr().out)["events"]]


def test_a_rollback_that_cannot_act_leaves_someone_elses_lock_alone(
    drill: Drill, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _hold("alice", "course", monkeypatch=monkeypatch)
    monkeypatch.setenv("COURSECTL_ACTOR", "bob")
    capsys.readouterr()
    assert main(["rollback", "course"]) == 4
    err = capsys.readouterr().err
    assert "no earlier good version" in err and "took over" not in err
    main(["lock", "list", "-o", "json"])
    (lock,) = json.loads(capsys.readouterr().out)["locks"]
    assert lock["holder"] == "alice" and lock["reason"] == "db maintenance"
    assert _lock_events(capsys) == ["lock.acquire:alice"]


def test_a_rollback_that_cannot_reach_its_target_leaves_the_lock_alone(
    config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COURSECTL_CONFIG", str(config_file))
    monkeypatch.setenv("HOME", str(tmp_path))  # prod is a kubernetes environment: no kubeconfig anywhere
    monkeypatch.delenv("KUBECONFIG", raising=False)
    _hold("alice", "user", "--env", "prod", monkeypatch=monkeypatch)
    monkeypatch.setenv("COURSECTL_ACTOR", "bob")
    capsys.readouterr()
    assert main(["rollback", "user", "--env", "prod", "--yes"]) == 4
    assert "no kubeconfig found" in capsys.readouterr().err
    main(["lock", "list", "-o", "json"])
    (lock,) = json.loads(capsys.readouterr().out)["locks"]
    assert lock["holder"] == "alice"
    assert _lock_events(capsys) == ["lock.acquire:alice"]
