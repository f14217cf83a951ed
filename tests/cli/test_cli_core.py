"""The command line: global options, output modes, and the exit-code contract (one test per code)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from coursectl import __version__
from coursectl.cli import build_app, main, run
from coursectl.errors import (
    EXIT_CODES,
    CoursectlError,
    ExternalError,
    GateBlocked,
    RolloutFailed,
)
from tests.conftest import REPO


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "--version") == (0, f"coursectl {__version__}\n", "")


def test_python_dash_m_runs_the_same_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "coursectl", "--version"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"coursectl {__version__}"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for command in ("config", "history", "lock", "sandbox"):
        assert command in out


# exit 0 ---------------------------------------------------------------------------------------------

def test_exit_0_config_validate_in_every_output_mode(capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    code, out, err = cli(capsys, "config", "validate", "-c", str(config_file))
    assert code == 0 and out.startswith("ok: ") and "2 services" in out and err == ""
    code, out, _ = cli(capsys, "config", "validate", "-c", str(config_file), "-o", "json")
    assert code == 0 and json.loads(out)["valid"] is True
    code, out, _ = cli(capsys, "-c", str(config_file), "-o", "quiet", "config", "validate")
    assert code == 0 and out.splitlines() == [str(config_file)]


def test_config_show_json_is_one_document_without_secret_values(
    capsys: pytest.CaptureFixture[str], config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "registry-password-value-42"
    monkeypatch.setenv("DEMO_REGISTRY_PASSWORD", secret)
    code, out, err = cli(capsys, "config", "show", "-c", str(config_file), "-o", "json", "-e", "prod")
    assert code == 0
    document = json.loads(out)
    assert document["environment"] == "prod"
    assert document["config"]["registry"]["password"]["value"] == "***"
    assert document["config"]["registry"]["password"]["available"] is True
    assert secret not in out + err
    code, out, err = cli(capsys, "config", "show", "-c", str(config_file))
    assert code == 0 and secret not in out + err and "***" in out


def test_config_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema
    import yaml

    code, out, _ = cli(capsys, "config", "schema")
    assert code == 0
    schema = json.loads(out)
    assert "services" in schema["properties"]
    # the shipped configuration satisfies the published schema
    jsonschema.validate(yaml.safe_load((REPO / "coursectl.yaml").read_text()), schema)


# exit 2 ---------------------------------------------------------------------------------------------

def test_exit_2_bad_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "config", "validate", "--no-such-flag")
    assert code == 2 and "No such option" in err and "Traceback" not in err


def test_exit_2_bad_flag_in_json_mode_is_a_json_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-o", "json", "history", "--limit", "zero")
    assert code == 2 and out == ""
    assert json.loads(err)["error"]["exit_code"] == 2


def test_exit_2_forced_release_needs_yes_when_not_interactive(
    capsys: pytest.CaptureFixture[str], config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSECTL_ACTOR", "alice")
    assert cli(capsys, "-c", str(config_file), "lock", "acquire", "user", "-e", "prod")[0] == 0
    monkeypatch.setenv("COURSECTL_ACTOR", "bob")
    code, _, err = cli(capsys, "-c", str(config_file), "lock", "release", "user", "-e", "prod", "--force")
    assert code == 2 and "--yes" in err
    code, out, _ = cli(capsys, "-c", str(config_file), "lock", "release", "user", "-e", "prod", "--force", "--yes")
    assert code == 0 and "alice" in out


# exit 3 ---------------------------------------------------------------------------------------------

def test_exit_3_unknown_key_and_bad_port_both_named_without_traceback(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    config_file.write_text(
        config_file.read_text().replace("port: 8002}", "port: 80x2}").replace("project: demo", "project: demo\nprojet: x")
    )
    code, out, err = cli(capsys, "config", "validate", "-c", str(config_file))
    assert code == 3 and out == ""
    assert "services.course.port: expected an integer, got '80x2'" in err
    assert "projet: unknown key; did you mean 'project'?" in err
    assert "Traceback" not in err
    code, out, err = cli(capsys, "config", "validate", "-c", str(config_file), "-o", "json")
    problems = json.loads(err)["error"]["details"]["problems"]
    assert {p["path"] for p in problems} == {"services.course.port", "projet"}


def test_exit_3_missing_configuration(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "config", "show", "-c", str(tmp_path / "nope.yaml"))
    assert code == 3 and "configuration file not found" in err


# exit 4 ---------------------------------------------------------------------------------------------

def test_exit_4_ledger_from_a_newer_coursectl(
    capsys: pytest.CaptureFixture[str], isolated_state: Path, config_file: Path
) -> None:
    import sqlite3

    isolated_state.mkdir(parents=True)
    conn = sqlite3.connect(isolated_state / "ledger.db")
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    code, _, err = cli(capsys, "history")
    assert code == 4 and "newer than this coursectl" in err and "upgrade coursectl" in err


# exit 8 ---------------------------------------------------------------------------------------------

def test_exit_8_lock_held_names_the_holder(
    capsys: pytest.CaptureFixture[str], config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSECTL_ACTOR", "jenkins:release-42")
    assert cli(capsys, "-c", str(config_file), "lock", "acquire", "user", "-e", "prod", "-m", "release 42")[0] == 0
    monkeypatch.setenv("COURSECTL_ACTOR", "oncall")
    code, _, err = cli(capsys, "-c", str(config_file), "lock", "acquire", "user", "-e", "prod")
    assert code == 8 and "jenkins:release-42" in err and "release 42" in err
    code, _, err = cli(capsys, "-c", str(config_file), "-o", "json", "lock", "acquire", "user", "-e", "prod")
    assert code == 8 and json.loads(err)["error"]["details"]["holder"] == "jenkins:release-42"
    # history shows who took it
    code, out, _ = cli(capsys, "history", "user", "-e", "prod", "-o", "json")
    assert [e["kind"] for e in json.loads(out)["events"]] == ["lock.acquire"]


# exits raised by later stages (5, 6, 7), internal errors (1) and interruption (130) -------------------

def _app_raising(exc: BaseException) -> typer.Typer:
    app = build_app()

    @app.command("explode", hidden=True)
    def explode() -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (ExternalError("registry did not answer"), 5, "error: registry did not answer"),
        (GateBlocked("2 CRITICAL findings block the release"), 6, "error: 2 CRITICAL findings"),
        (RolloutFailed("latency-p95 1.52 s > 0.5 s on canary, 3 of 3 failed"), 7, "latency-p95 1.52 s"),
        (ZeroDivisionError("division by zero"), 1, "internal error (a bug): ZeroDivisionError"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_error_classes_map_to_their_exit_codes(
    capsys: pytest.CaptureFixture[str], exc: BaseException, code: int, text: str
) -> None:
    assert run(_app_raising(exc), ["explode"]) == code
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err


def test_debug_variable_shows_the_traceback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSECTL_DEBUG", "1")
    assert run(_app_raising(ZeroDivisionError("boom")), ["explode"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_every_error_class_has_a_documented_exit_code() -> None:
    from coursectl.errors import error_classes

    for cls in error_classes():
        assert cls.exit_code in EXIT_CODES, cls
    assert CoursectlError.exit_code == 1


def test_readme_lists_every_exit_code() -> None:
    readme = (REPO / "README.md").read_text()
    for code in EXIT_CODES:
        assert f"| {code} |" in readme, code


def test_quiet_history_prints_ids_only(capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    cli(capsys, "-c", str(config_file), "lock", "acquire", "user", "-e", "local")
    code, out, _ = cli(capsys, "history", "-o", "quiet")
    assert code == 0 and out.split() == ["1"]
