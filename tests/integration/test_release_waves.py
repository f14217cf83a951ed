"""Releases in waves through the real command line: six tiny services on the process target behind a real
HAProxy edge, three waves — order, parallelism, all or nothing, keep, resume after kill -9, abort."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from coursectl.testing.waves import SERVICES, WavesPlatform

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]

BASE = 24000  # this suite's service ports (+100/+200 for the slots)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _entries(release: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list(release["waves"])


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[WavesPlatform]:
    p = WavesPlatform(tmp_path, base=BASE, delay=1.0)
    try:
        assert p.run("release", "--version", "v1").returncode == 0
        yield p
    finally:
        p.cleanup()


def _ledger_entries(p: WavesPlatform) -> dict[str, Any]:
    """The newest release entity, read from the ledger (with the start and end of each service)."""
    from coursectl.ledger import SqliteLedger
    from coursectl.rollout.release_state import ReleaseStore

    ledger = SqliteLedger(p.state / "ledger.db")
    try:
        rel = ReleaseStore(ledger).latest("w")
        assert rel is not None
        return rel.to_dict()
    finally:
        ledger.close()


def test_waves_in_order_and_parallel_within_a_wave(platform: WavesPlatform) -> None:
    done = platform.run("release", "--version", "v2", "-o", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    rel = _ledger_entries(platform)
    assert rel["phase"] == "succeeded"
    assert rel["waves"] == [["content", "user"], ["course", "payment"], ["enrollment", "notification"]]
    svc = rel["services"]
    for earlier, later in zip(rel["waves"], rel["waves"][1:], strict=False):
        assert max(_t(svc[n]["finished_at"]) for n in earlier) <= min(_t(svc[n]["started_at"]) for n in later)
    for wave in rel["waves"]:  # both services of a wave ran at the same time
        assert max(_t(svc[n]["started_at"]) for n in wave) < min(_t(svc[n]["finished_at"]) for n in wave)
    assert platform.versions() == dict.fromkeys(SERVICES, "v2")


def test_a_failure_in_wave_2_rolls_everything_back_in_reverse_order(platform: WavesPlatform) -> None:
    assert platform.run("release", "--version", "v2").returncode == 0
    platform.bad = "payment"  # v3 of payment never becomes ready
    platform.write()
    done = platform.run("release", "--version", "v3")
    assert done.returncode == 7, done.stderr[-3000:]
    assert "payment" in done.stderr and "rolled-back" in done.stderr
    assert platform.versions() == dict.fromkeys(SERVICES, "v2")
    rel = _ledger_entries(platform)
    svc = rel["services"]
    assert rel["phase"] == "rolled-back"
    assert svc["payment"]["state"] == "failed"
    assert {svc[n]["state"] for n in ("user", "content", "course")} == {"rolled-back"}
    assert {svc[n]["state"] for n in ("enrollment", "notification")} == {"skipped"}
    # course (wave 2) was back on v2 before the first service of wave 1 began its rollback
    assert _t(svc["course"]["finished_at"]) <= min(_t(svc[n]["started_at"]) for n in ("user", "content"))


def test_keep_leaves_the_promoted_services(platform: WavesPlatform) -> None:
    platform.bad, platform.on_failure = "payment", "keep"
    platform.write()
    done = platform.run("release", "--version", "v2")
    assert done.returncode == 7, done.stderr[-3000:]
    versions = platform.versions()
    assert versions["payment"] == "v1"  # its own rollout was aborted
    assert versions["user"] == versions["content"] == versions["course"] == "v2"  # kept
    assert versions["enrollment"] == versions["notification"] == "v1"  # never started
    rel = _ledger_entries(platform)
    assert rel["phase"] == "failed" and rel["services"]["user"]["state"] == "kept"


def _in_wave_2(p: WavesPlatform) -> dict[str, Any]:
    """Wait until both services of wave 2 roll out; their release status."""
    deadline = time.monotonic() + 60
    status: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        status = p.release_status()
        if status and status["phase"] == "rolling-out":
            states = {e["service"]: e["state"] for wave in status["waves"] for e in wave}
            if states["course"] == "rolling" and states["payment"] == "rolling":
                return status
        time.sleep(0.1)
    raise AssertionError(f"the release never reached wave 2: {status}")


def test_a_running_release_is_aborted_from_another_terminal(tmp_path: Path) -> None:
    p = _slow_wave_2(tmp_path)
    try:
        assert p.run("release", "--version", "v1").returncode == 0
        proc = p.popen("release", "--version", "v2")
        try:
            _in_wave_2(p)
            done = p.run("release", "abort", "-o", "json")
            assert done.returncode == 0, done.stderr[-3000:]
            assert proc.wait(timeout=120) == 7  # the release itself ends as aborted
        finally:
            if proc.poll() is None:
                proc.kill()
        assert json.loads(done.stdout)["phase"] == "aborted"
        assert p.versions() == dict.fromkeys(SERVICES, "v1")
        rel = _ledger_entries(p)
        states = {n: e["state"] for n, e in rel["services"].items()}
        assert rel["phase"] == "aborted" and rel["message"] == "aborted by waves"
        assert states["user"] == states["content"] == "rolled-back"
        assert {states["course"], states["payment"]} <= {"aborted", "rolled-back"}
        assert states["enrollment"] == states["notification"] == "skipped"
        assert p.run("release", "abort").returncode == 4  # nothing left to abort
    finally:
        p.cleanup()


def _kill_in_wave_2(p: WavesPlatform, version: str) -> dict[str, Any]:
    proc = p.popen("release", "--version", version)
    deadline = time.monotonic() + 60
    status: dict[str, Any] | None = None
    try:
        while time.monotonic() < deadline:
            status = p.release_status()
            if status and status["phase"] == "rolling-out":
                states = {e["service"]: e["state"] for wave in status["waves"] for e in wave}
                if states["course"] == "rolling" and states["payment"] == "rolling":
                    break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the release never reached wave 2: {status}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return status


def _slow_wave_2(tmp_path: Path) -> WavesPlatform:
    """The platform with wave 2's slots taking 2 s to start: time to act while both roll out."""
    p = WavesPlatform(tmp_path, base=BASE, delay=1.0)
    p.slow = {"course": 2.0, "payment": 2.0}
    p.write()
    return p


def test_a_killed_release_is_resumed(tmp_path: Path) -> None:
    p = _slow_wave_2(tmp_path)
    try:
        assert p.run("release", "--version", "v1").returncode == 0
        _kill_in_wave_2(p, "v2")
        again = p.run("release", "--version", "v2")
        assert again.returncode == 4 and "interrupted" in again.stderr and "release resume" in again.stderr
        done = p.run("release", "resume", "-o", "json")
        assert done.returncode == 0, done.stderr[-3000:]
        assert p.versions() == dict.fromkeys(SERVICES, "v2")
        rel = _ledger_entries(p)
        assert rel["phase"] == "succeeded"
        assert {e["state"] for e in rel["services"].values()} == {"promoted"}
        assert p.run("release", "resume").returncode == 4  # nothing left to resume
    finally:
        p.cleanup()


def test_a_killed_release_is_aborted(tmp_path: Path) -> None:
    p = _slow_wave_2(tmp_path)
    try:
        assert p.run("release", "--version", "v1").returncode == 0
        _kill_in_wave_2(p, "v2")
        done = p.run("release", "abort", "-o", "json")
        assert done.returncode == 0, done.stderr[-3000:]
        assert p.versions() == dict.fromkeys(SERVICES, "v1")
        rel = _ledger_entries(p)
        assert rel["phase"] == "aborted"
        states = {n: e["state"] for n, e in rel["services"].items()}
        assert states["user"] == states["content"] == "rolled-back"
        assert states["course"] in ("aborted", "rolled-back") and states["payment"] in ("aborted", "rolled-back")
        assert states["enrollment"] == states["notification"] == "skipped"
        listed = p.json("release", "list")["releases"]
        assert [r["phase"] for r in listed[:2]] == ["aborted", "succeeded"]
    finally:
        p.cleanup()


def test_a_load_test_breach_after_the_waves_rolls_everything_back(platform: WavesPlatform) -> None:
    text = platform.config.read_text()
    platform.config.write_text(
        text.replace("release: {on_failure:", "release: {load: {rps: 20, duration: 1}, on_failure:")
    )
    done = platform.run("release", "--version", "v2", "--set-env", "FAULT_ERROR_RATE=1", "-o", "json")
    assert done.returncode == 7, done.stderr[-3000:]
    assert "load test breached: error-rate 1" in done.stderr
    assert platform.versions() == dict.fromkeys(SERVICES, "v1")
    rel = _ledger_entries(platform)
    assert rel["phase"] == "rolled-back" and rel["load"]["failed"] == rel["load"]["sent"] > 0
    assert {e["state"] for e in rel["services"].values()} == {"rolled-back"}
