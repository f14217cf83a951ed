"""`coursectl status` and `coursectl rollback`: what runs where, and the fast way back."""

from __future__ import annotations

from typing import Annotated

import typer

from coursectl.cli._app import confirm_or_fail, state_of
from coursectl.cli._options import EnvOption, OutputOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("rollback")(rollback)


def status(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Only these services.", show_default=False)] = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Per service: live version, digest, slots, weights, health, lock (works without Prometheus/registry)."""
    from coursectl.cli._rollout_common import show_status

    show_status(state_of(ctx), services or None, env=env, output=output)


def rollback(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="Service to roll back.")],
    env: EnvOption = None,
    to: Annotated[str | None, typer.Option("--to", metavar="VERSION", help="Version to go back to.")] = None,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Back to the previous good version: a switch to the warm colour, else a fast redeploy (no analysis).

    Takes over the deploy lock of a stuck or abandoned rollout, recording whose it was.
    """
    from coursectl.api import rollout as api
    from coursectl.cli._rollout_common import context, summary
    from coursectl.render.printable import printable
    from coursectl.render.tags import validate_tag

    state = state_of(ctx)
    out = state.out(output)
    if to is not None:
        validate_tag(to)
    rctx = context(state, env, out)
    rctx.service(service)
    if rctx.env.protected:
        confirm_or_fail(out, f"roll back {service} in {rctx.env_name}?", yes=yes)
    try:
        result = api.rollback(rctx, service, to_version=to)
    finally:
        taken = rctx.taken_over
        if taken is not None:  # always said, whether the rollback then succeeded or not
            out.warn(
                f"took over the deploy lock of {service} in {rctx.env_name} held by {printable(taken.holder)}"
                f" since {taken.acquired_at:%Y-%m-%d %H:%M:%S} UTC ({printable(taken.reason)});"
                " recorded in the ledger"
            )
    from coursectl.api.finisher import describe_leftovers

    back_to = result.version if result.kind == "rollback" else result.stable_version
    finishing = describe_leftovers(result)  # handed to a detached finisher: the command does not wait for it
    data = dict(summary(result), took_over_lock=taken.to_dict() if taken else None, finishing=finishing)
    done = (
        (
            f"traffic switched; {', '.join(finishing)} in the background"
            f" (coursectl rollout status {service} --env {rctx.env_name})"
        )
        if finishing
        else None
    )
    out.result(
        data,
        human=f"{service}: rolled back to {back_to} — {done or result.message or result.phase}",
        ids=[result.id],
    )
