"""The command line starts quickly because it imports little: `--version` nothing of the parser, `--help` none of
the commands, a command only its own module. Asserted on the modules imported, never on time (the figures are
benchmarks/cli_startup.py's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursectl.cli import build_app, lazy_command, run
from coursectl.cli._commands import COMMANDS
from coursectl.cli._lazy import command_table, render_table

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("typer", "rich", "pydantic", "docker", "kubernetes", "yaml", "jinja2", "requests")
COMMAND_MODULES = {f"coursectl.cli.{module}" for module, _, _ in COMMANDS.values()}
SHOW = "import atexit, sys; atexit.register(lambda: print('MODULES:', *sorted(sys.modules), file=sys.stderr)); "
MAIN = "from coursectl.cli import main; sys.exit(main(sys.argv[1:]))"


def imported(*argv: str, code: str = MAIN) -> tuple[set[str], str]:
    """The modules ``coursectl <argv>`` has imported when it exits (sys.modules: -X importtime does not list
    what importlib.import_module loads), and what it printed."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-c", SHOW + code, *argv], capture_output=True, text=True, timeout=120,
                          env=env, cwd=REPO)  # fmt: skip
    marker = done.stderr.rfind("MODULES:")
    assert marker >= 0, done.stderr
    return set(done.stderr[marker + len("MODULES:") :].split()), done.stdout


def roots(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_importing_the_cli_imports_no_parser_and_no_sdk() -> None:
    names, _ = imported(code="import coursectl.cli")
    assert "coursectl.cli" in names
    assert not roots(names) & set(HEAVY), roots(names) & set(HEAVY)
    assert not names & COMMAND_MODULES


def test_version_imports_nothing_of_the_parser() -> None:
    names, out = imported("--version")
    assert out == "coursectl 0.1.0\n"
    assert not roots(names) & set(HEAVY), roots(names) & set(HEAVY)
    assert not names & COMMAND_MODULES


def test_help_lists_every_command_without_importing_one() -> None:
    names, out = imported("--help")
    assert "Commands:" in out and all(name in out for name in COMMANDS)
    assert "typer" in roots(names)
    assert not roots(names) & {"rich", "pydantic", "docker", "kubernetes", "yaml", "jinja2", "requests"}
    assert not names & COMMAND_MODULES


def test_a_command_imports_its_own_module_only() -> None:
    names, out = imported("status", "--help")
    assert "Per service: live version" in out
    assert names & COMMAND_MODULES == {"coursectl.cli.status"}
    assert not roots(names) & {"docker", "kubernetes", "rich", "requests"}


def test_the_command_table_is_what_the_commands_register() -> None:
    table = command_table(build_app())
    assert COMMANDS == table, "regenerate coursectl/cli/_commands.py: python -m coursectl.cli._lazy"
    exec_globals: dict[str, object] = {}
    exec(render_table(table), exec_globals)  # noqa: S102 - our own generated module text
    assert exec_globals["COMMANDS"] == table


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["rollout", "--help"],
        ["status", "--help"],
        ["nonsense"],
        ["config", "show", "--nonsense"],
        ["metrics", "dora", "--help"],
    ],
)
def test_the_lazy_tree_answers_like_the_whole_one(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    eager = run(build_app(), argv)
    eager_out = capsys.readouterr()
    lazy = run(lazy_command(), argv)
    lazy_out = capsys.readouterr()
    assert (lazy, lazy_out.out, lazy_out.err) == (eager, eager_out.out, eager_out.err)
