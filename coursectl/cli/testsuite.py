"""`coursectl test unit|integration [SERVICE...]`: the platform's tests, with a JUnit report for Jenkins."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption


class TestKind(StrEnum):
    __test__ = False

    unit = "unit"
    integration = "integration"


def register(app: typer.Typer) -> None:
    app.command("test")(test)


def test(
    ctx: typer.Context,
    kind: Annotated[
        TestKind,
        typer.Argument(help="unit (no servers) or integration (real servers started by the tests' own fixtures)."),
    ],
    services: Annotated[
        list[str] | None,
        typer.Argument(help="Only these services (default: all and the shared library).", show_default=False),
    ] = None,
    junit: Annotated[
        Path, typer.Option("--junit", metavar="PATH", help="Where the JUnit XML report goes.")
    ] = Path("reports/junit/tests.xml"),
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", min=1, help="Stop after this long.")
    ] = 1800,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Run the platform's unit or integration tests with pytest: exit 0 passed, 6 failed (a gate), 4 nothing to
    run, 5 pytest itself failed. The JUnit report is written in every case."""
    from coursectl.api.testsuite import run_tests
    from coursectl.wiring import process_runner

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    out.progress(f"{kind.value} tests of {', '.join(services or []) or 'every service'}")
    run = run_tests(
        loaded.config,
        loaded.root,
        kind.value,
        runner=process_runner(),
        services=services or (),
        junit=junit,
        timeout=timeout,
    )
    out.result(
        run.to_dict(),
        human=f"{kind.value} tests: {run.tests} run, {run.failures} failed, {run.errors} errors,"
        f" {run.skipped} skipped — {run.report}",
        ids=[run.report],
    )
