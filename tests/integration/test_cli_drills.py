"""Rollout drills through the real command line: HAProxy edge, local slot processes, Prometheus, kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.testing.drill import Drill, free_port
from coursectl.testing.load import LoadGenerator

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Drill]:
    d = Drill(tmp_path)
    yield d
    d.cleanup()


def _step(d: Drill) -> tuple[int, str] | None:
    db = d.state / "ledger.db"
    if not db.exists():
        return None
    with sqlite3.connect(db, timeout=5) as conn:
        row = conn.execute("SELECT state FROM rollouts ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
    if not row:
        return None
    state = json.loads(row[0])
    return state["step_index"], state["phase"]


def _status(d: Drill) -> dict:  # type: ignore[type-arg]
    r = d.run("status", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["services"][0]  # type: ignore[no-any-return]


def test_blue_green_switch_and_warm_rollback_drop_nothing(drill: Drill) -> None:
    drill.config.write_text(drill.config.read_text().replace("scale_down_delay: 3s", "scale_down_delay: 60s"))
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    load = LoadGenerator(drill.url, connections=8).start()
    load.wait_total(1500)
    deploy = drill.popen("deploy", "course", "--version", "v2")
    deadline = time.monotonic() + 30
    while "v2" not in load.result.versions and time.monotonic() < deadline:
        time.sleep(0.05)
    load.wait_total(load.result.total + 2000)
    started = time.monotonic()
    rollback = drill.run("rollback", "course", "-o", "json")
    assert rollback.returncode == 0, rollback.stderr
    switched = load.result.last_seen["v2"] - started
    load.wait_total(load.result.total + 1500)
    result = load.stop()
    assert deploy.wait(timeout=60) == 7, drill.stderr_of(
        deploy
    )  # its rollout was taken over and aborted by the rollback
    assert result.total >= 5000 and result.failed == 0, result.to_dict()
    assert switched < 2.0, f"traffic switched {switched:.2f} s after the rollback started"
    status = _status(drill)
    assert status["version"] == "v1" and status["weights"] == {"blue": 100}
    events = json.loads(drill.run("history", "-o", "json", "-k", "rollback", "-k", "deployment").stdout)
    kinds = [(e["kind"], e["outcome"]) for e in events["events"]]
    assert ("rollback", "succeeded") in kinds and ("deployment", "rolled_back") in kinds


def test_rollback_after_scale_down_redeploys(drill: Drill) -> None:
    drill.config.write_text(drill.config.read_text().replace("scale_down_delay: 3s", "scale_down_delay: 0s"))
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    assert drill.run("deploy", "course", "--version", "v2").returncode == 0
    assert _status(drill)["version"] == "v2"
    r = drill.run("rollback", "course")
    assert r.returncode == 0, r.stderr
    assert _status(drill)["version"] == "v1"


def test_two_concurrent_deploys_one_exits_8(drill: Drill) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    a = drill.popen("deploy", "course", "--version", "v2")
    b = drill.popen("deploy", "course", "--version", "v3")
    codes = sorted([a.wait(timeout=120), b.wait(timeout=120)])
    assert codes == [0, 8], (codes, drill.stderr_of(a), drill.stderr_of(b))


@pytest.mark.parametrize("kill_at", [1, 3, 5])  # 1: new slot starting, 3: switching, 5: keeping the old warm
@pytest.mark.parametrize("then", ["resume", "abort"])
def test_kill_9_then_resume_or_abort(drill: Drill, kill_at: int, then: str) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    load = LoadGenerator(drill.url, connections=4).start()
    load.wait_total(200)
    proc = drill.popen("deploy", "course", "--version", "v2")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        step = _step(drill)
        if step and step[0] >= kill_at and step[1] == "progressing":
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    load.wait_total(load.result.total + 300)
    r = drill.run("rollout", then, "course", "-o", "json")
    assert r.returncode == 0, r.stderr
    load.wait_total(load.result.total + 300)
    result = load.stop()
    assert result.failed == 0, result.to_dict()
    status = _status(drill)
    assert status["version"] == ("v2" if then == "resume" else "v1"), status
    assert list(status["weights"].values()) == [100]
    assert len(status["slots"]) == 1
    assert status["rollout"] is None and status["lock"] is None


def test_canary_with_prometheus_down_never_promotes(tmp_path: Path) -> None:
    d = Drill(tmp_path, prom_url=f"http://127.0.0.1:{free_port()}", interval=1, pause=3, observe=2)
    try:
        assert d.run("deploy", "course", "--env", "canary", "--version", "v1").returncode == 0
        r = d.run("deploy", "course", "--env", "canary", "--version", "v2", "-o", "json")
        assert r.returncode == 7, r.stderr
        assert "metrics provider error" in r.stderr
        status = _status_env(d, "canary")
        assert status["version"] == "v1" and status["weights"] == {"stable": 100}
    finally:
        d.cleanup()


def _status_env(d: Drill, env: str) -> dict:  # type: ignore[type-arg]
    r = d.run("status", "--env", env, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["services"][0]  # type: ignore[no-any-return]


@pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus missing")
@pytest.mark.parametrize("fault", ["0.3", None])
def test_canary_with_real_prometheus(tmp_path: Path, fault: str | None) -> None:
    from coursectl.testing.prom import LocalPrometheus

    prom = LocalPrometheus(tmp_path / "prom", free_port()).start()
    d = Drill(tmp_path, prom_url=prom.url, file_sd=prom.file_sd, interval=3, pause=9)
    load = None
    try:
        assert d.run("deploy", "course", "--env", "canary", "--version", "v1").returncode == 0
        load = LoadGenerator(d.url, connections=4, rate_per_conn=50).start()
        args = ["deploy", "course", "--env", "canary", "--version", "v2"]
        if fault:
            args += ["--set-env", f"FAULT_ERROR_RATE={fault}"]
        r = d.run(*args)
        status = _status_env(d, "canary")
        if fault:
            assert r.returncode == 7, r.stderr
            assert "error-rate" in r.stderr and "> 1%" in r.stderr
            assert status["version"] == "v1" and status["weights"] == {"stable": 100}
            # traffic reached the canary, and was back on stable within 3 analysis intervals (+ switch time)
            first = load.result.first_seen["v2"]
            last = load.result.last_seen["v2"]
            assert last - first < 3 * 3 + 2, f"bad canary served for {last - first:.1f} s"
        else:
            assert r.returncode == 0, r.stderr
            assert status["version"] == "v2" and status["weights"] == {"stable": 100}
    finally:
        if load:
            load.stop()
        d.cleanup()
        prom.stop()


@pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus missing")
def test_prometheus_stopped_during_a_canary_never_promotes(tmp_path: Path) -> None:
    from coursectl.testing.prom import LocalPrometheus

    prom = LocalPrometheus(tmp_path / "prom", free_port()).start()
    d = Drill(tmp_path, prom_url=prom.url, file_sd=prom.file_sd, interval=2, pause=30)
    load = None
    try:
        assert d.run("deploy", "course", "--env", "canary", "--version", "v1").returncode == 0
        load = LoadGenerator(d.url, connections=4, rate_per_conn=50).start()
        proc = d.popen("deploy", "course", "--env", "canary", "--version", "v2")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait for a successful measurement, then take Prometheus away
            r = d.run("rollout", "status", "course", "--env", "canary", "-o", "json")
            rollout = json.loads(r.stdout)["rollout"] if r.returncode == 0 else None
            if rollout and rollout["analysis"].get("successful"):
                break
            time.sleep(0.5)
        prom.stop()
        assert proc.wait(timeout=120) == 7, d.stderr_of(proc)
        assert "unreachable" in d.stderr_of(proc)
        status = _status_env(d, "canary")
        assert status["version"] == "v1" and status["weights"] == {"stable": 100}
        assert load.result.failed == 0
    finally:
        if load:
            load.stop()
        d.cleanup()
        prom.stop()
