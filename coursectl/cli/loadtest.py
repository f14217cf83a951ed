"""`coursectl loadtest`: a bounded, paced load through an environment's edge, judged against thresholds."""

from __future__ import annotations

from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, JUnitOption, OutputOption


def register(app: typer.Typer) -> None:
    app.command("loadtest")(loadtest)


def loadtest(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help="Base URL (default: the environment's edge).", show_default=False)
    ] = None,
    rps: Annotated[float, typer.Option("--rps", min=0.1, help="Target requests per second.")] = 20.0,
    duration: Annotated[
        float, typer.Option("--duration", metavar="SECONDS", min=0.1, help="How long the load runs.")
    ] = 30.0,
    connections: Annotated[int, typer.Option("--connections", min=1, max=64, help="Parallel connections.")] = 4,
    p95_max: Annotated[
        float,
        typer.Option("--p95-max", metavar="SECONDS", min=0, help="Highest acceptable 95th-percentile latency."),
    ] = 0.5,
    error_rate_max: Annotated[
        float, typer.Option("--error-rate-max", min=0, max=1, help="Highest acceptable share of failed requests.")
    ] = 0.01,
    junit: JUnitOption = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Send RPS requests a second for DURATION on the journey's read paths; exit 0 when p95 latency, error rate
    and the rate reached are within the thresholds, 6 when one is not (the figures in JSON and JUnit)."""
    from coursectl.api.loadtest import Thresholds, judge, run_load
    from coursectl.cli._output import write_report
    from coursectl.errors import GateBlocked
    from coursectl.render.junit import threshold_cases, to_xml

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    base = (url or f"http://{loaded.environment.edge.bind}").rstrip("/")
    out.progress(f"load test: {rps:g} requests/s for {duration:g} s through {base}")
    report = run_load(base, rps=rps, duration=duration, connections=connections)
    checks = judge(report, Thresholds(p95_max, error_rate_max))
    if junit is not None:
        write_report(
            junit,
            to_xml(
                f"coursectl loadtest ({loaded.env_name})",
                threshold_cases(f"loadtest.{loaded.env_name}", checks),
                properties={"url": base, "rps": f"{rps:g}", "duration": f"{duration:g}"},
            ),
        )
    data = dict(
        report.to_dict(), checks=[{"name": n, "value": v, "limit": lim, "ok": ok} for n, v, lim, ok in checks]
    )
    lines = [f"{report.sent} requests, {report.failed} failed, {report.achieved_rps:.1f}/s of {rps:g}/s"]
    lines += [
        f"{'ok  ' if ok else 'FAIL'} {n} = {v if v is not None else 'no data'} (limit {lim:g})"
        for n, v, lim, ok in checks
    ]
    out.result(data, human="\n".join(lines), ids=[n for n, _, _, ok in checks if not ok])
    breached = [f"{n} {v if v is not None else 'no data'} (limit {lim:g})" for n, v, lim, ok in checks if not ok]
    if breached:
        message = f"load test through {base} breached: " + "; ".join(breached)
        state.announce_gate("load test", message, environment=loaded.env_name)
        raise GateBlocked(message)
