"""Hostile arguments and output targets: a usage error (exit 2) with a clean message, nothing recorded, nothing
written; values refused at the door with their grammar; user data shown as printable text only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from coursectl.domain import LedgerEvent
from coursectl.ledger import open_ledger
from tests.conftest import REPO

Cli = Callable[..., tuple[int, str, str]]


def _usage(cli: Cli, *args: str) -> str:
    code, out, err = cli(*args)
    assert code == 2, (args, code, out, err)
    assert "Traceback" not in err and "internal error" not in err
    return err


def test_a_non_utf8_argument_is_a_usage_error(cli: Cli, state_dir: Path) -> None:
    err = _usage(cli, "history", "us\udcffer")  # how Python hands over the bytes us\xffer from argv
    assert "argument 2 is not valid UTF-8 text: b'us\\xffer'" in err
    assert not state_dir.exists()  # refused before anything was opened


def test_a_non_utf8_argument_from_a_real_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "COURSECTL_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "coursectl", "history", b"us\xffer"], capture_output=True,
                          env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert b"is not valid UTF-8 text: b'us\\xffer'" in done.stderr


def test_a_non_utf8_environment_variable_is_a_usage_error(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSECTL_ENV", "pr\udcffod")
    assert "COURSECTL_ENV is not valid UTF-8 text" in _usage(cli, "history")


@pytest.mark.parametrize(
    "args",
    [
        ("history", "--limit", "99999999999999999999"),
        ("history", "--limit", "0"),
        ("lock", "acquire", "user", "--ttl", "99999999999999999999d"),
        ("lock", "acquire", "user", "--ttl", "nan"),
        ("lock", "acquire", "user", "--ttl", "-5m"),
        ("lock", "acquire", "user", "--lock-wait", "nan"),
        ("lock", "acquire", "user", "--lock-wait", "inf"),
        ("lock", "acquire", "user", "--reason", "\x1b[2J"),
        ("lock", "acquire", "user", "--reason", "fine\nFAKE: all good"),
        ("lock", "acquire", "user", "--reason", "  "),
        ("metrics", "dora", "--since", "99999999999d"),
        ("metrics", "report", "--since", "99999999999d"),
        ("metrics", "dora", "--since", "²d"),
        ("metrics", "dora", "--from", "0001-01-01"),
        ("metrics", "dora", "--from", "2026-01-01", "--to", "9999-12-31T23:59:59-05:00"),
        ("metrics", "report", "--from", "0001-01-01T00:00:00+05:00"),
        ("rollout", "watch", "user", "--timeout", "nan"),
        ("deploy", "user", "--version", "x;touch pwned"),
        ("deploy", "user", "--version", "v1\n"),
        ("deploy", "user", "--version", "-rf"),
        ("deploy", "user", "--version", "a" * 129),
        ("deploy", "user", "--digest", "sha256:abc"),
        ("deploy", "user", "--digest", "md5:" + "0" * 32),
        ("deploy", "user", "--digest", "sha256:" + "A" * 64),
        ("deploy", "user", "--version", "v1", "--set-env", "NOEQUALS"),
        ("deploy", "user", "--version", "v1", "--set-env", "=value"),
        ("deploy", "user", "--version", "v1", "--set-env", "BAD-NAME=1"),
        ("deploy", "user", "--version", "v1", "--set-env", "1ST=1"),
        ("deploy", "user", "--version", "v1", "--set-env", "A=b\x00c"),
        ("deploy", "nosuch", "--version", "v1", "--dry-run"),
        ("rollback", "user", "--to", "$(reboot)"),
        ("scan", "--tag", "../../etc"),
    ],
)
def test_bad_values_are_refused_at_the_door(cli: Cli, config_file: Path, state_dir: Path,
                                            args: tuple[str, ...]) -> None:
    err = _usage(cli, "-c", str(config_file), *args)
    assert err.strip()
    assert not (state_dir / "ledger.db").exists()  # nothing recorded, nothing created


def test_valid_values_pass_the_door_and_a_dry_run_creates_nothing(cli: Cli, config_file: Path,
                                                                   state_dir: Path) -> None:
    config_file.write_text(config_file.read_text().replace("{target: docker, strategy: blue-green}",
                                                           "{target: process, strategy: blue-green}"))
    for args in (("--version", "1.4.2-rc_1"), ("--digest", "sha256:" + "a" * 64)):
        code, out, err = cli("-c", str(config_file), "deploy", "user", *args, "--set-env", "FAULT_ERROR_RATE=0.3",
                             "--dry-run", "-o", "json")
        assert code == 0, err
        (plan,) = json.loads(out)["plans"]
        assert plan["service"] == "user" and plan["from_version"] is None
    assert not state_dir.exists()  # no ledger, no edge folder, no slot folder: a dry run changes nothing


@pytest.mark.parametrize("command", [("metrics", "dora", "-f", "json"), ("metrics", "report", "-f", "markdown"),
                                     ("ledger", "export")])
def test_out_to_a_directory_or_an_impossible_place_is_usage(cli: Cli, tmp_path: Path, state_dir: Path,
                                                            command: tuple[str, ...]) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    assert "is a directory" in _usage(cli, *command, "--out", str(folder))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert "is not a directory" in _usage(cli, *command, "--out", str(blocker / "report.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "reports"] and not any(folder.iterdir())
    assert not (state_dir / "ledger.db").exists()


def test_a_report_file_is_replaced_whole(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "dora.json"
    target.write_text("old report")
    code, _, err = cli("metrics", "dora", "-f", "json", "--out", str(target))
    assert code == 0, err
    assert json.loads(target.read_text())["deployment_frequency"]["count"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["dora.json"]  # no temporary file left beside it


HOSTILE = "\x1b[2J\x1b[1;1Hpay\nFAKE: all good\u202e\x9b31m"


def _seed_hostile(state_dir: Path) -> None:
    with open_ledger(state_dir) as ledger:
        ledger.record(LedgerEvent(kind="deployment", actor="mallory\x1b[8m", environment="prod", service=HOSTILE,
                                  version="1\r\n2", outcome="succeeded"))
        ledger.acquire_lock("prod", "user", holder="eve\nFAKE: lock released", reason=HOSTILE)


def _assert_printable(text: str) -> None:
    assert "\x1b" not in text and "\x9b" not in text and "\u202e" not in text and "\r" not in text
    assert not any(line.lstrip().startswith("FAKE") for line in text.splitlines()), text


@pytest.mark.parametrize("mode", ["human", "json", "quiet"])
@pytest.mark.parametrize("command", [("history",), ("lock", "list"), ("history", "-k", "lock.acquire")])
def test_terminal_escapes_in_recorded_data_are_never_printed_raw(
    cli: Cli, state_dir: Path, mode: str, command: tuple[str, ...]
) -> None:
    _seed_hostile(state_dir)
    code, out, err = cli(*command, "-o", mode)
    assert code == 0, err
    _assert_printable(out + err)
    if mode == "human":
        assert "\\n" in out or "\\x1b" in out  # shown, visibly escaped
    if mode == "json":
        json.loads(out)


def test_a_lock_held_error_shows_the_holder_and_reason_escaped(cli: Cli, config_file: Path, state_dir: Path) -> None:
    with open_ledger(state_dir) as ledger:
        ledger.acquire_lock("local", "user", holder="eve\nFAKE: released", reason=HOSTILE)
    code, _, err = cli("-c", str(config_file), "lock", "acquire", "user")
    assert code == 8
    _assert_printable(err)
    assert "eve\\nFAKE: released" in err


def test_json_stderr_is_json_lines_with_a_type_and_the_error_last(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from coursectl.cli._app import LogFormatter
    from coursectl.cli._output import Output, OutputMode

    out = Output(OutputMode.json)
    out.progress("scanning user")
    out.warn("snyk skipped on user: not installed")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter(json=True))
    log = logging.getLogger("test-json-lines")
    log.propagate = False
    log.addHandler(handler)
    try:
        log.warning("query http://prom:s3cret@127.0.0.1:9/x failed")
    finally:
        log.removeHandler(handler)
    out.error({"type": "usage", "message": "bad", "exit_code": 2}, "bad", None)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["type"] for line in lines] == ["progress", "warning", "log", "error"]
    assert lines[2]["level"] == "warning" and "s3cret" not in lines[2]["message"]
    assert lines[-1]["error"]["exit_code"] == 2


def _open_files(pid: int) -> set[str]:
    """The files a process holds open; a descriptor closed while we look is skipped, not an error."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue
    return found


def test_ctrl_c_exits_130_and_is_recorded_in_the_ledger(tmp_path: Path, config_file: Path) -> None:
    state = tmp_path / "state"
    with open_ledger(state) as ledger:
        ledger.acquire_lock("local", "user", holder="someone-else", reason="maintenance", ttl=600)
    env = {**os.environ, "COURSECTL_STATE_DIR": str(state), "PYTHONPATH": str(REPO), "COURSECTL_ACTOR": "ops"}
    proc = subprocess.Popen([sys.executable, "-m", "coursectl", "-c", str(config_file), "lock", "acquire", "user",
                             "--lock-wait", "600"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        ledger_file = str(state / "ledger.db")
        while time.monotonic() < deadline:  # waiting on the lock: it has the ledger open
            if ledger_file in _open_files(proc.pid):
                break
            time.sleep(0.02)
        else:
            pytest.fail("coursectl never opened its ledger")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    with open_ledger(state) as ledger:
        (event,) = ledger.events(kinds=["interrupted"])
        assert event.actor == "ops" and event.details["command"].endswith("lock acquire user --lock-wait 600")
        assert ledger.lock_info("local", "user").holder == "someone-else"  # type: ignore[union-attr]


@pytest.mark.parametrize("args", [("history", "--output", "\x1b[2Jx"), ("history", "--kind"), ("\x1b[2J",),
                                  ("lock", "acquire", "user", "--lock-wait", "\x1b]0;pwned\x07")])
def test_the_parsers_own_messages_quote_arguments_escaped(cli: Cli, args: tuple[str, ...]) -> None:
    err = _usage(cli, *args)
    assert "\x1b" not in err and "\x07" not in err
