"""Starting a daemon for real: early exits and timeouts are errors that name the log; nothing is left running."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from coursectl.errors import ExternalError, ExternalTimeout, ToolMissing
from coursectl.sandbox import daemon, pids

pytestmark = pytest.mark.integration


def test_a_daemon_that_exits_at_once_is_an_error_naming_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "broken.log"
    log.parent.mkdir()
    argv = ["/bin/sh", "-c", "echo 'config is broken' >&2; exit 3"]
    with pytest.raises(ExternalError, match="broken exited with code 3") as caught:
        daemon.start("broken", argv, log_path=log, ready=lambda: False, timeout=20)
    assert str(log) in caught.value.message
    assert "config is broken" in caught.value.message
    assert caught.value.exit_code == 5


def test_a_daemon_that_never_gets_ready_times_out_and_is_stopped(tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    seconds = f"60.{uuid.uuid4().int % 10**9:09d}"
    marker = f"sleep {seconds}"
    argv = ["sleep", seconds]
    with pytest.raises(ExternalTimeout, match="did not become ready within 0.5 s") as caught:
        daemon.start("slow", argv, log_path=log, ready=lambda: False, timeout=0.5)
    assert str(log) in caught.value.message
    assert not pids.matching([marker])


def test_a_daemon_that_gets_ready_keeps_running_until_terminated(tmp_path: Path) -> None:
    started = daemon.start("sleeper", ["sleep", "60"], log_path=tmp_path / "s.log", ready=lambda: True, timeout=5)
    assert pids.alive(started.pid, started.starttime)
    assert pids.terminate(started.pid, started.starttime, timeout=5)
    assert not pids.alive(started.pid, started.starttime)


def test_a_missing_program_is_tool_missing(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing, match="no-such-daemon"):
        daemon.start("x", ["no-such-daemon"], log_path=tmp_path / "x.log", ready=lambda: True, timeout=1)
