"""`coursectl status` runs without the parser (coursectl/cli/_fast.py) when its command line is plain. Both paths
must answer the same: each command line below runs through both, on a live deployment, and what they print
and return is compared; the fast one must not have imported Typer, and anything unusual must reach the parser."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.cli._fast import parse_status
from coursectl.cli._output import OutputMode
from coursectl.testing.drill import Drill

FAST = (
    "import sys; from coursectl.cli import main; rc = main(sys.argv[1:]); "
    "print('TYPER' if 'typer' in sys.modules else 'NO-TYPER', file=sys.stderr); sys.exit(rc)"
)
PARSER = "import sys; from coursectl.cli import lazy_command, run; sys.exit(run(lazy_command(), sys.argv[1:]))"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    """One service deployed on the process target behind a real edge (the status has something to show)."""
    d = Drill(tmp_path_factory.mktemp("fast"))
    r = d.run("deploy", "course", "--version", "v1")
    assert r.returncode == 0, r.stderr
    yield d
    d.cleanup()


def both(d: Drill, *argv: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], ...]:
    runs = []
    for code in (FAST, PARSER):
        runs.append(subprocess.run([sys.executable, "-c", code, *argv], env={**d.env, **(env or {})},
                                   capture_output=True, text=True, timeout=120, cwd=d.tmp))  # fmt: skip
    return tuple(runs)


def same(fast: subprocess.CompletedProcess[str], parsed: subprocess.CompletedProcess[str]) -> None:
    stderr = fast.stderr.rsplit("\n", 2)[0] + "\n" if fast.stderr.count("\n") > 1 else ""
    assert (fast.returncode, fast.stdout) == (parsed.returncode, parsed.stdout)
    assert stderr.strip() == parsed.stderr.strip()


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["status"], {}),
        (["status", "-o", "json"], {}),
        (["status", "--output=JSON"], {}),
        (["-o", "json", "status"], {}),
        (["status", "-o", "quiet"], {}),
        (["-q", "status"], {}),
        (["-vv", "--env", "drill", "status", "course", "-o", "json"], {}),
        (["status", "course", "--env=drill", "-o", "json"], {}),
        (["status", "-o", "json", "-c", "{config}"], {}),
        (["status"], {"COURSECTL_OUTPUT": "json"}),
        (["status", "-o", "json"], {"COURSECTL_ENV": "canary"}),
        (["status", "nosuch", "-o", "json"], {}),
        (["status", "-o", "json"], {"COURSECTL_ENV": "nosuch"}),
        (["-e", "nosuch", "status"], {}),
        (["status", "-e", "nosuch", "-o", "json"], {}),
        (["status", "-o", "json"], {"COURSECTL_CONFIG": "/nonexistent/coursectl.yaml"}),
    ],
)
def test_the_fast_path_answers_as_the_parser_does(live: Drill, argv: list[str], env: dict[str, str]) -> None:
    argv = [a.replace("{config}", str(live.config)) for a in argv]
    fast, parsed = both(live, *argv, env=env)
    assert fast.stderr.rstrip().endswith("NO-TYPER"), fast.stderr  # it really took the fast path
    same(fast, parsed)
    if fast.returncode == 0 and "json" in " ".join([*argv, *env.values()]).lower():
        data = json.loads(fast.stdout)
        assert data["services"] and {s["name"] for s in data["services"]} <= {"course"}


def test_the_status_it_shows_is_the_deployment(live: Drill) -> None:
    fast, _ = both(live, "status", "-o", "json")
    (course,) = json.loads(fast.stdout)["services"]
    assert course["version"] == "v1" and course["health"] == "healthy", course


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--help"],
        ["status", "-h"],
        ["status", "--bogus"],
        ["status", "-o", "yaml"],
        ["status", "-o"],
        ["status", "--", "course"],
        ["status", "-ojson"],
        ["status", "-e", "-o", "json"],
        ["-x", "status"],
        ["--version", "status"],
    ],
)
def test_anything_unusual_goes_to_the_parser(live: Drill, argv: list[str]) -> None:
    assert parse_status(argv, {}) is None
    fast, parsed = both(live, *argv)
    assert fast.stderr.rstrip().endswith("TYPER") and not fast.stderr.rstrip().endswith("NO-TYPER")
    same(fast, parsed)


def test_parsing_takes_the_last_value_and_the_environment_variables_as_the_parser_does() -> None:
    call = parse_status(["-c", "a.yaml", "-c", "b.yaml", "-vv", "-v", "status", "x", "-o", "json", "y"],
                        {"COURSECTL_ENV": "staging", "COURSECTL_KUBECONFIG": "", "COURSECTL_OUTPUT": "Quiet"})  # fmt: skip
    assert call is not None
    assert (call.config, call.env, call.kubeconfig, call.verbose) == ("b.yaml", "staging", None, 3)
    assert (call.output, call.command_output, call.services) == (OutputMode.quiet, OutputMode.json, ["x", "y"])
    assert parse_status(["status"], {"COURSECTL_OUTPUT": "xml"}) is None  # the parser's error, not ours


def test_a_bad_output_mode_in_the_environment_is_the_parsers_error(live: Drill) -> None:
    fast, parsed = both(live, "status", env={"COURSECTL_OUTPUT": "xml"})
    assert fast.returncode == parsed.returncode == 2
    same(fast, parsed)


def test_status_still_reads_its_own_arguments_after_the_global_ones(tmp_path: Path) -> None:
    assert parse_status(["status", "-v"], {}) is None  # -v after the command: hoisted to the front by main
    from coursectl.cli import hoist_global_options

    call = parse_status(hoist_global_options(["status", "course", "-v", "-c", "x.yaml"]), {})
    assert call is not None and call.verbose == 1 and call.config == "x.yaml" and call.services == ["course"]


def test_status_imports_neither_the_parser_nor_the_sandbox_machinery(live: Drill) -> None:
    code = "import sys; from coursectl.cli import main; rc = main(sys.argv[1:]); print(*sorted(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code, "status", "-o", "quiet"], env=live.env, capture_output=True,
                          text=True, timeout=120, cwd=live.tmp)  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = set(done.stdout.split())
    assert "coursectl.api.rollout.status" in names
    assert not {"typer", "click", "coursectl.sandbox.manager", "docker", "requests", "rich"} & names
