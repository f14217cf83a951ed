"""`coursectl journey`: the platform's user journey through an environment's edge, as a smoke / end-to-end test."""

from __future__ import annotations

from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, JUnitOption, OutputOption


def register(app: typer.Typer) -> None:
    app.command("journey")(journey)


def journey(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Base URL to test (default: the environment's edge).", show_default=False),
    ] = None,
    junit: JUnitOption = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Register, log in, browse, and a student refused what is an instructor's — through the edge. Exit 0 when
    every step passed, 6 when one failed (the gate of a smoke or end-to-end stage)."""
    from coursectl.api.journey import run_journey
    from coursectl.cli._output import write_report
    from coursectl.errors import GateBlocked
    from coursectl.render.junit import journey_cases, to_xml

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    base = (url or f"http://{loaded.environment.edge.bind}").rstrip("/")
    out.progress(f"user journey through {base}")
    result = run_journey(base)
    if junit is not None:
        write_report(
            junit,
            to_xml(f"coursectl journey ({loaded.env_name})", journey_cases(str(loaded.env_name), result.steps)),
        )
        out.progress(f"wrote junit report {junit}")
    lines = "\n".join(f"{'ok  ' if s.ok else 'FAIL'} {s.name}: {s.detail}" for s in result.steps)
    out.result(result.to_dict(), human=lines, ids=[s.name for s in result.steps if not s.ok])
    if not result.ok:
        failed = next((s for s in result.steps if not s.ok), None)
        message = f"user journey through {base} failed" + (
            f" at '{failed.name}': {failed.detail}" if failed else ""
        )
        state.announce_gate("journey", message, environment=loaded.env_name)
        raise GateBlocked(message, hint=f"coursectl status --env {loaded.env_name}")
