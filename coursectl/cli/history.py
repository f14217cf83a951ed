"""`coursectl history`: what happened, newest first, from the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import MAX_LIMIT, EnvOption, OutputOption

if TYPE_CHECKING:
    from rich.console import Console


def register(app: typer.Typer) -> None:
    app.command("history")(history)


def history(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="Only this service.", show_default=False)] = None,
    env: EnvOption = None,
    kind: Annotated[list[str] | None, typer.Option("--kind", "-k", help="Only these event kinds.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_LIMIT, help="At most this many events.")
    ] = 20,
    output: OutputOption = None,
) -> None:
    """Show recorded builds, scans, deployments, rollout steps, rollbacks, backups and locks."""
    state = state_of(ctx)
    out = state.out(output)
    events = state.ledger().events(service=service, environment=env or state.env_name, kinds=kind, limit=limit)
    data = {"events": [e.to_dict() for e in events]}

    def human(console: Console) -> None:
        from rich.table import Table

        from coursectl.render.printable import printable

        if not events:
            console.print("no events recorded yet", markup=False)
            return
        table = Table(box=None, pad_edge=False)
        for column in ("time (UTC)", "kind", "env", "service", "version", "outcome", "actor"):
            table.add_column(column)
        for e in events:  # user data, shown as printable text: no escape sequence or newline reaches the terminal
            table.add_row(
                f"{e.time:%Y-%m-%d %H:%M:%S}",
                *(printable(v or "") for v in (e.kind, e.environment, e.service, e.version, e.outcome, e.actor)),
            )
        console.print(table)

    out.result(data, human=human, ids=[str(e.id) for e in events])
