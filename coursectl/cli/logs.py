"""`coursectl logs [SERVICE] --env E`: the JSON logs of every slot merged, filtered by time or request id."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption


def logs(
    ctx: typer.Context,
    service: Annotated[
        str | None,
        typer.Argument(
            help="A service of the configuration; all of them when "
            "omitted (e.g. to follow one --request-id everywhere).",
            show_default=False,
        ),
    ] = None,
    env: EnvOption = None,
    since: Annotated[str | None, typer.Option("--since", help="Only lines of the last 10m, 2h, 1d...")] = None,
    request_id: Annotated[
        str | None,
        typer.Option(
            "--request-id", help="Only the lines of this request (the X-Request-ID the edge set), across services."
        ),
    ] = None,
    slot: Annotated[
        str | None, typer.Option("--slot", help="Only this slot (blue, green, stable, canary).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the last N lines.")] = None,
    output: OutputOption = None,
) -> None:
    """Merge the JSON logs of every slot of SERVICE (or of every service) in time order."""
    from datetime import datetime

    from coursectl.api.logs import read_logs
    from coursectl.api.metrics import parse_span
    from coursectl.errors import UsageError
    from coursectl.observability.logs import human_line
    from coursectl.wiring import log_source

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    names = list(loaded.config.services)
    if service is not None and service not in names:
        raise UsageError(f"unknown service {service!r}", hint=f"one of: {', '.join(names)}")
    start = datetime.now(UTC) - parse_span(since) if since else None
    records = read_logs(
        log_source(loaded, state.state_dir(), kubeconfig=state.kubeconfig),
        [service] if service else names,
        since=start,
        request_id=request_id,
        slot=slot,
        limit=limit,
    )
    out.result(
        {
            "environment": loaded.env_name,
            "services": [service] if service else names,
            "request_id": request_id,
            "lines": [r.to_dict() for r in records],
        },
        human="\n".join(human_line(r) for r in records) or "no log lines match",
        ids=[r.request_id or "-" for r in records],
    )
