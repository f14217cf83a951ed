"""`coursectl release`: build → scan → push → roll out → journey smoke → summary and status."""

from __future__ import annotations

from typing import Annotated

import typer

from coursectl.cli._app import confirm_or_fail, state_of
from coursectl.cli._options import EnvOption, OutputOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("release")(release)


def release(
    ctx: typer.Context,
    services: Annotated[list[str] | None, typer.Argument(help="Only these services (default: all).")] = None,
    env: EnvOption = None,
    yes: YesOption = False,
    set_env: Annotated[
        list[str] | None,
        typer.Option("--set-env", metavar="KEY=VALUE", help="Extra environment for every service rolled out."),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Release the platform to an environment: changed services are built, scanned, pushed and rolled out with
    the environment's strategy, then the user journey runs through the edge. Exit 7 when a rollout was rolled
    back, 6 when a gate (scan, journey) blocked it or a rollout stopped paused for a human (no traffic with
    on_no_traffic: pause, inconclusive analysis). --set-env (drills) rolls the services out again with that extra
    environment even when their version is live."""
    from coursectl.api.release import release as run_release
    from coursectl.cli._rollout_common import context, render_status
    from coursectl.render.tags import parse_env_pairs
    from coursectl.errors import GateBlocked

    state = state_of(ctx)
    out = state.out(output)
    rctx = context(state, env, out)
    if rctx.env.protected:
        confirm_or_fail(out, f"release to {rctx.env_name}?", yes=yes)
    report = run_release(rctx, services or (), progress=out.progress, set_env=parse_env_pairs(set_env or []))

    def human(console):  # type: ignore[no-untyped-def]
        for stage in report.stages:
            console.print(f"{stage.name:<11} {stage.status:<8} {stage.detail}", markup=False)
        for d in report.deployed:
            console.print(f"  {d['service']:<13} {d['version']} {d['phase']}", markup=False)
        for name, entry in report.sbom.items():  # what each release changes in its dependencies
            console.print(f"  {name:<13} dependencies: {entry.get('dependencies', entry.get('status', ''))}",
                          markup=False)  # fmt: skip
        console.print(f"released to {report.environment} in {report.duration:.0f} s", markup=False)
        if report.status and "services" in report.status:
            render_status(report.status)(console)

    out.result(report.to_dict(), human=human, ids=[f"{d['service']}={d['version']}" for d in report.deployed])
    failed = [s for s in report.stages if s.status == "failed"]
    if failed:
        raise GateBlocked(f"release {failed[0].name} failed: {failed[0].detail}")
