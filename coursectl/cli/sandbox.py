"""`coursectl sandbox up|down|status`: the local environment (engine, registry, Prometheus, base image)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import OutputOption

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.cli._app import AppState
    from coursectl.sandbox import Sandbox

app = typer.Typer(
    help="The local sandbox: Docker engine, registry, Prometheus and base image.", no_args_is_help=True
)


def _sandbox(state: AppState) -> Sandbox:
    from coursectl.wiring import sandbox

    try:
        loaded = state.config()
    except Exception as exc:  # no configuration at all: the sandbox still works with its defaults
        from coursectl.errors import ConfigError

        if not isinstance(exc, ConfigError) or any(p.path for p in exc.problems):
            raise
        loaded = None
    return sandbox(state.state_dir(), loaded)


def _render_status(data: dict[str, Any], *, changes: list[str] | None = None) -> Any:
    def human(console: Console) -> None:
        from rich.table import Table

        if changes is not None:
            for line in changes:
                console.print(f"changed: {line}", markup=False)
            if not changes:
                console.print("sandbox already up: nothing to do", markup=False)

        table = Table(box=None, pad_edge=False)
        for column in ("component", "state", "healthy"):
            table.add_column(column, no_wrap=True)
        table.add_column("address", overflow="fold")
        table.add_column("detail")
        for c in data["components"]:
            healthy = "yes" if c["healthy"] else "no"
            state = c["state"] + (" (ours)" if c.get("started_by_us") else "")
            table.add_row(c["name"], state, healthy, c.get("address") or "", c.get("detail") or "")
        console.print(table)

    return human


@app.command("up")
def up(ctx: typer.Context, output: OutputOption = None) -> None:
    """Start what is missing (idempotent): engine, registry with auth, Prometheus, base image."""
    state = state_of(ctx)
    out = state.out(output)
    status = _sandbox(state).up(progress=out.progress)
    data = status.to_dict()
    out.result(
        data, human=_render_status(data, changes=list(status.changes)), ids=[c["name"] for c in data["components"]]
    )


@app.command("down")
def down(ctx: typer.Context, output: OutputOption = None) -> None:
    """Stop what `sandbox up` started, and the edges rollouts started on it (nothing else)."""
    from coursectl.wiring import stop_edges

    state = state_of(ctx)
    out = state.out(output)
    stopped = stop_edges(state.state_dir()) + _sandbox(state).down()
    out.result(
        {"stopped": stopped},
        human="stopped: "
        + (", ".join(stopped) if stopped else "nothing (no sandbox component of ours was running)"),
        ids=stopped,
    )


@app.command("status")
def status(ctx: typer.Context, output: OutputOption = None) -> None:
    """Show each component, its address and health."""
    state = state_of(ctx)
    out = state.out(output)
    data = _sandbox(state).status().to_dict()
    out.result(data, human=_render_status(data), ids=[c["name"] for c in data["components"] if c["healthy"]])
