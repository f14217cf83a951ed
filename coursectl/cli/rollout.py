"""`coursectl rollout status|watch|promote|pause|resume|abort SERVICE`: follow and steer a rollout."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import MAX_WAIT, EnvOption, JUnitOption, OutputOption, finite

app = typer.Typer(help="Follow and steer a progressive rollout.", no_args_is_help=True)

ServiceArg = Annotated[str, typer.Argument(help="Service whose rollout to act on.")]


@app.command("status")
def status(
    ctx: typer.Context,
    service: ServiceArg,
    env: EnvOption = None,
    junit: JUnitOption = None,
    output: OutputOption = None,
) -> None:
    """Phase, step, weights, the last measurements and the lock of the latest rollout."""
    from coursectl.api import rollout as api
    from coursectl.cli._rollout_common import context, render_rollout

    state = state_of(ctx)
    out = state.out(output)
    rctx = context(state, env)
    data = api.rollout_status(rctx, service)
    if junit is not None:
        from coursectl.cli._output import write_report
        from coursectl.render.junit import measurement_cases, to_xml

        latest = rctx.store.latest(rctx.env_name, service)
        write_report(junit, to_xml("coursectl analysis", measurement_cases([latest.to_dict()] if latest else [])))
    out.result(data, human=render_rollout(data), ids=[data["rollout"]["id"]] if data["rollout"] else [])


@app.command("watch")
def watch(
    ctx: typer.Context,
    service: ServiceArg,
    env: EnvOption = None,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between refreshes.", min=0.2, max=3600, callback=finite)
    ] = 1.0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", help="Stop watching after this many seconds.", min=0, max=MAX_WAIT, callback=finite
        ),
    ] = 3600.0,
    output: OutputOption = None,
) -> None:
    """A live view of weights, health and the last measurements until the rollout ends."""
    from coursectl.api import rollout as api
    from coursectl.cli._rollout_common import context, render_rollout
    from coursectl.rollout.state import ACTIVE

    state = state_of(ctx)
    out = state.out(output)
    rctx = context(state, env)
    deadline = time.monotonic() + timeout

    def done(d: dict) -> bool:  # type: ignore[type-arg]
        return d["rollout"] is None or d["rollout"]["phase"] not in ACTIVE or time.monotonic() > deadline

    data = api.rollout_status(rctx, service)
    if out.interactive:
        from rich.console import Group
        from rich.live import Live
        from rich.text import Text

        def view(d: dict) -> Group:  # type: ignore[type-arg]
            from io import StringIO

            from rich.console import Console

            buf = StringIO()
            render_rollout(d)(Console(file=buf, width=120))
            return Group(Text(buf.getvalue()))

        with Live(view(data), console=out.console, refresh_per_second=4) as live:
            while not done(data):
                time.sleep(interval)
                data = api.rollout_status(rctx, service)
                live.update(view(data))
        return
    last = None
    while True:
        r = data["rollout"]
        rnd = r.get("last_round") if r else None
        line = None if r is None else (r["phase"], r["step"], rnd and rnd["at"], r["weights"].__repr__())
        if line != last:
            last = line
            out.progress(
                f"{r['phase']} step {min(r['step'] + 1, r['steps'])}/{r['steps']} "
                f"{r['current_step'] or 'done'} weights {r['weights']}"
                + (f" — last round: {rnd['line']}" if rnd else "")
                if r
                else "no rollout"
            )
        if done(data):
            break
        time.sleep(interval)
        data = api.rollout_status(rctx, service)
    out.result(data, human=render_rollout(data))


def _request(ctx: typer.Context, service: str, env: str | None, output: object, what: str) -> None:
    from coursectl.api import rollout as api
    from coursectl.cli._rollout_common import context, summary

    state = state_of(ctx)
    out = state.out(output)  # type: ignore[arg-type]
    result = api.request(context(state, env, out), service, what)
    out.result(summary(result), human=f"{service}: {result.phase} — {result.message}", ids=[result.id])


@app.command("promote")
def promote(
    ctx: typer.Context,
    service: ServiceArg,
    env: EnvOption = None,
    full: Annotated[bool, typer.Option("--full", help="Skip every remaining step and analysis.")] = False,
    output: OutputOption = None,
) -> None:
    """Skip the current pause (or, with --full, all remaining steps and analyses); recorded with the actor."""
    _request(ctx, service, env, output, "promote-full" if full else "promote")


@app.command("pause")
def pause(ctx: typer.Context, service: ServiceArg, env: EnvOption = None, output: OutputOption = None) -> None:
    """Hold the rollout where it is (traffic stays as it is) until resumed, promoted or aborted."""
    _request(ctx, service, env, output, "pause")


@app.command("resume")
def resume(ctx: typer.Context, service: ServiceArg, env: EnvOption = None, output: OutputOption = None) -> None:
    """Continue a paused rollout, or one whose process died (kill -9), from the step it was on."""
    _request(ctx, service, env, output, "resume")


@app.command("abort")
def abort(ctx: typer.Context, service: ServiceArg, env: EnvOption = None, output: OutputOption = None) -> None:
    """Send all traffic back to the stable slot and remove the new one."""
    _request(ctx, service, env, output, "abort")


@app.command("finish")
def finish(
    ctx: typer.Context,
    service: ServiceArg,
    env: EnvOption = None,
    handoff: Annotated[
        str | None,
        typer.Option(
            "--handoff",
            hidden=True,
            metavar="ROLLOUT_ID",
            help="Started by rollback: the lock's token comes on stdin.",
        ),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Finish what a rollback left after its switch: the old slot's drain and retire, and the outcome record.

    rollback starts this in the background and returns; run it by hand when that process was killed (deploy and
    rollback also finish such leftovers before they act).
    """
    import sys

    from coursectl.api import finisher
    from coursectl.cli._rollout_common import context, summary

    state = state_of(ctx)
    out = state.out(output)
    token = None
    if handoff is not None:
        token = sys.stdin.readline().strip()
        if not token:  # the rollback finished everything itself after all
            out.result({"service": service, "finished": None}, human=f"{service}: nothing was handed over")
            return
    rctx = context(state, env, out)
    rctx.service(service)
    done = finisher.finish(rctx, service, rollout_id=handoff, token=token)
    if done is None:
        out.result({"service": service, "finished": None}, human=f"{service}: nothing left to finish")
        return
    out.result(
        {"service": service, "finished": summary(done)},
        human=f"{service}: {done.phase} — {done.message or 'finished'}",
        ids=[done.id],
    )
