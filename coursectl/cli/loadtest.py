"""`coursectl loadtest`: a bounded, paced load through an environment's edge, judged against thresholds."""

from __future__ import annotations

from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import MAX_WAIT, EnvOption, JUnitOption, OutputOption, finite

MAX_RPS = 100_000.0
"""The highest rate ``--rps`` accepts (the configuration's ``release.load.rps`` has the same bound)."""


def register(app: typer.Typer) -> None:
    app.command("loadtest")(loadtest)


def loadtest(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", help="Base URL (default: the environment's edge).", show_default=False)
    ] = None,
    rps: Annotated[
        float | None,
        typer.Option(
            "--rps", min=0.1, max=MAX_RPS, callback=finite, help="Target requests per second [config: 20]."
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            metavar="SECONDS",
            min=0.1,
            max=MAX_WAIT,
            callback=finite,
            help="How long the load runs [config: 30].",
        ),
    ] = None,
    connections: Annotated[
        int | None, typer.Option("--connections", min=1, max=64, help="Parallel connections [config: 4].")
    ] = None,
    p95_max: Annotated[
        float | None,
        typer.Option(
            "--p95-max",
            metavar="SECONDS",
            min=0,
            max=MAX_WAIT,
            callback=finite,
            help="Highest acceptable 95th-percentile latency [config: 0.5].",
        ),
    ] = None,
    error_rate_max: Annotated[
        float | None,
        typer.Option(
            "--error-rate-max", min=0, max=1, help="Highest acceptable share of failed requests [config: 0.01]."
        ),
    ] = None,
    junit: JUnitOption = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Send RPS requests a second for DURATION on the journey's read paths; exit 0 when p95 latency, error rate
    and the rate reached are within the thresholds, 6 when one is not (the figures in JSON and JUnit). Options
    not given come from the environment's release.load settings (else the defaults shown)."""
    from coursectl.api.loadtest import DEFAULT_PATHS, Thresholds, failures_text, judge, run_load
    from coursectl.cli._output import write_report
    from coursectl.config.models import LoadStepConfig
    from coursectl.errors import GateBlocked
    from coursectl.render.junit import threshold_cases, to_xml

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    conf = loaded.environment.release.load or LoadStepConfig.model_validate({})
    rps = conf.rps if rps is None else rps
    duration = conf.duration if duration is None else duration
    base = (url or f"http://{loaded.environment.edge.bind}").rstrip("/")
    out.progress(f"load test: {rps:g} requests/s for {duration:g} s through {base}")
    report = run_load(
        base, rps=rps, duration=duration, connections=connections or conf.connections,
        paths=tuple(conf.paths or DEFAULT_PATHS),
    )  # fmt: skip
    checks = judge(
        report,
        Thresholds(
            conf.p95_max if p95_max is None else p95_max,
            conf.error_rate_max if error_rate_max is None else error_rate_max,
            conf.min_rate_ratio,
        ),
    )
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
    lines = [f"{report.sent} requests, {failures_text(report)}, {report.achieved_rps:.1f}/s of {rps:g}/s"]
    lines += [
        f"{'ok  ' if ok else 'FAIL'} {n} = {f'{v:.4g}' if v is not None else 'no data'} (limit {lim:g})"
        for n, v, lim, ok in checks
    ]
    out.result(data, human="\n".join(lines), ids=[n for n, _, _, ok in checks if not ok])
    breached = [
        f"{n} {f'{v:.4g}' if v is not None else 'no data'} (limit {lim:g})" for n, v, lim, ok in checks if not ok
    ]
    if breached:
        message = f"load test through {base} breached: " + "; ".join(breached)
        if report.failed:
            message += f" — {failures_text(report)} of {report.sent}"
        state.announce_gate("load test", message, environment=loaded.env_name)
        raise GateBlocked(message)
