"""`coursectl metrics dora|report`: DORA metrics and the key success metrics, as table, JSON, Markdown or HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coursectl.cli._app import AppState, state_of
from coursectl.cli._options import EnvOption, OutputOption
from coursectl.cli._output import OutputMode, check_writable, dumps, write_report_file

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.config.models import MetricsConfig

app = typer.Typer(help="DORA metrics and the platform's key success metrics.", no_args_is_help=True)


class Format(str, Enum):  # noqa: UP042 - typer choice; StrEnum would change str() in output
    table = "table"
    json = "json"
    markdown = "markdown"
    html = "html"


class By(str, Enum):  # noqa: UP042 - typer choice; StrEnum would change str() in output
    service = "service"
    week = "week"


ServiceOption = Annotated[
    str | None, typer.Option("--service", "-s", help="Only this service.", show_default=False)
]
SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since", help="Window back from now: 30d, 2w, 12h (default: metrics.window).", show_default=False
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="Window start: YYYY-MM-DD (local midnight) or ISO time.", show_default=False),
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Window end, exclusive (default: now).", show_default=False)
]
FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        "-f",
        case_sensitive=False,
        help="table (terminal), json, markdown or html (default: table, or json with -o json).",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Write the report to this file.", show_default=False)
]
TzOption = Annotated[
    str | None,
    typer.Option("--tz", help="Time zone of windows and weeks (default: metrics.timezone).", show_default=False),
]


def _metrics_config(state: AppState) -> tuple[MetricsConfig, dict[str, str], Path | None, Path]:
    """metrics config, service paths, git repository, config root — defaults when there is no config file."""
    from coursectl.config.loader import find_config
    from coursectl.config.models import MetricsConfig
    from coursectl.errors import ConfigError

    try:
        if state.config_path is None:
            find_config(None)
    except ConfigError:
        return MetricsConfig(), {}, None, Path.cwd()
    loaded = state.config()
    cfg = loaded.config
    repo = (loaded.root / cfg.metrics.repository).resolve()
    return cfg.metrics, {n: s.path for n, s in cfg.services.items()}, repo, loaded.root


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from coursectl.errors import UsageError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Berlin") from exc


Template = tuple[str, dict[str, Any]]  # (template name, context)


def _emit(
    state: AppState,
    output: OutputMode | None,
    fmt: Format | None,
    out_path: Path | None,
    data: dict[str, Any],
    *,
    markdown: Template,
    html: Template | None,
    table: Any,
) -> None:
    """Print or write the result in the chosen format (json, markdown, html from templates/, or a table)."""
    out = state.out(output)
    chosen = fmt or (Format.json if out.mode is OutputMode.json else Format.table)
    if chosen is Format.json:
        text = dumps(data) + "\n"
    elif chosen is Format.markdown:
        from coursectl.render.templates import render

        text = render(markdown[0], **markdown[1])
    elif chosen is Format.html:
        if html is None:
            from coursectl.errors import UsageError

            raise UsageError("this report has no HTML format", hint="use --format markdown or json")
        from coursectl.render.templates import render

        text = render(html[0], **html[1])
    else:
        text = ""
    if out_path is not None:
        if chosen is Format.table:
            from coursectl.errors import UsageError

            raise UsageError("--out needs --format json, markdown or html")
        write_report_file(out_path, text)
        out.progress(f"wrote {out_path}")
        out.result(
            {"written": str(out_path), "format": chosen.value}, human=f"wrote {out_path}", ids=[str(out_path)]
        )
        return
    if chosen is Format.table:
        out.result(data, human=table, ids=[])
    else:
        out.document(text, json_text=chosen is Format.json)


@app.command("dora")
def dora(
    ctx: typer.Context,
    env: EnvOption = None,
    service: ServiceOption = None,
    since: SinceOption = None,
    start: FromOption = None,
    end: ToOption = None,
    by: Annotated[
        By | None, typer.Option("--by", case_sensitive=False, help="Break down by service or by week.")
    ] = None,
    fmt: FormatOption = None,
    out_path: OutOption = None,
    tiers: Annotated[
        int | None,
        typer.Option(
            "--tiers", help="State of DevOps report year of the tiers: 2023 or 2024.", show_default=False
        ),
    ] = None,
    tz: TzOption = None,
    repo: Annotated[
        Path | None,
        typer.Option("--repo", help="Git repository for deployments without commits.", show_default=False),
    ] = None,
    output: OutputOption = None,
) -> None:
    """DORA metrics of production: frequency, lead time, change failure rate, rework rate, recovery time."""
    from coursectl.api.metrics import dora_report, make_window
    from coursectl.dora.tiers import TIER_YEARS
    from coursectl.errors import UsageError
    from coursectl.render.charts import dora_charts
    from coursectl.render.formats import HELPERS
    from coursectl.wiring import git_source

    state = state_of(ctx)
    state.out(output)
    if out_path is not None:
        check_writable(out_path, "--out")
    metrics, service_paths, cfg_repo, _ = _metrics_config(state)
    year = tiers or metrics.tiers
    if year not in TIER_YEARS:
        raise UsageError(f"--tiers {year}: no tier table for that year", hint="use 2023 or 2024")
    zone = _zone(tz or metrics.timezone)
    window = make_window(zone, since=since, start=start, end=end, default_days=metrics.window / 86400.0)
    environment = env or metrics.environment
    git_repo = repo or cfg_repo
    git = git_source(git_repo, service_paths, metrics.shared_paths) if git_repo is not None else None
    report = dora_report(
        state.ledger(),
        window,
        environment=environment,
        service=service,
        tiers_year=year,
        min_deployments=metrics.min_deployments,
        by_service=by is By.service,
        git=git,
    )
    for warning in report["warnings"]:
        state.out().warn(warning)
    ctx_md = {"r": report, "show_weeks": by is By.week, **HELPERS}
    ctx_html = {
        "r": report,
        "charts": dora_charts(report),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **HELPERS,
    }

    def table(console: Console) -> None:
        _dora_table(console, report, show_weeks=by is By.week)

    _emit(
        state,
        output,
        fmt,
        out_path,
        report,
        markdown=("reports/dora.md.j2", ctx_md),
        html=("reports/dora.html.j2", ctx_html),
        table=table,
    )


def _dora_table(console: Console, r: dict[str, Any], *, show_weeks: bool) -> None:
    from rich.table import Table

    from coursectl.render.formats import duration, num, pct, trend

    w = r["window"]
    console.print(
        f"DORA metrics — {r['environment'] or 'all'}{' / ' + r['service'] if r['service'] else ''}: "
        f"{w['from_local']} → {w['to_local']} ({w['timezone']}); tiers {r['tiers_report']['year']}",
        markup=False,
    )
    t = Table(box=None, pad_edge=False)
    for c in ("metric", "value", "tier", "trend"):
        t.add_column(c)
    df, lt, cfr, rw, rec = (
        r[k] for k in ("deployment_frequency", "lead_time", "change_failure_rate", "rework_rate", "recovery_time")
    )
    t.add_row(
        "deployment frequency",
        f"{df['count']} succeeded, {num(df['per_day'])}/day, {num(df['deploy_days_per_week'])} deploy days/week",
        df["tier"],
        trend(df["trend"]),
    )
    t.add_row(
        "lead time",
        f"median {duration(lt['median_seconds'])}, p90 {duration(lt['p90_seconds'])} ({lt['commits']} commits)",
        lt["tier"],
        trend(lt["trend"], "duration"),
    )
    t.add_row(
        "change failure rate",
        f"{pct(cfr['rate'])} ({cfr['failures']}/{cfr['deployments']})",
        cfr["tier"],
        trend(cfr["trend"], "pct"),
    )
    t.add_row(
        "rework rate",
        f"{pct(rw['rate'])} ({rw['hotfix_deployments']} hotfixes, {rw['rollbacks']} rollbacks)",
        rw["tier"],
        trend(rw["trend"], "pct"),
    )
    t.add_row(
        "recovery time",
        f"median {duration(rec['median_seconds'])} ({rec['recovered']} recovered, {rec['unrecovered']} not yet)",
        rec["tier"],
        trend(rec["trend"], "duration"),
    )
    console.print(t)
    if "by_service" in r:
        s = Table(box=None, pad_edge=False, title="by service")
        for c in ("service", "deployments", "per day", "lead time", "CFR", "recovery"):
            s.add_column(c)
        for name, m in r["by_service"].items():
            s.add_row(
                name,
                str(m["change_failure_rate"]["deployments"]),
                num(m["deployment_frequency"]["per_day"]),
                duration(m["lead_time"]["median_seconds"]),
                pct(m["change_failure_rate"]["rate"]),
                duration(m["recovery_time"]["median_seconds"]),
            )
        console.print(s)
    if show_weeks:
        wk = Table(box=None, pad_edge=False, title="by week")
        for c in ("week of", "succeeded", "deploy days", "failures", "CFR", "lead time", "recovery"):
            wk.add_column(c)
        for x in r["weekly"]:
            wk.add_row(
                x["week_start"],
                str(x["succeeded"]),
                str(x["deploy_days"]),
                str(x["failures"]),
                pct(x["change_failure_rate"]),
                duration(x["lead_time_median_seconds"]),
                duration(x["recovery_median_seconds"]),
            )
        console.print(wk)
    console.print(r["definitions"], style="dim", markup=False)


@app.command("report")
def report(
    ctx: typer.Context,
    env: EnvOption = None,
    service: ServiceOption = None,
    since: SinceOption = None,
    start: FromOption = None,
    end: ToOption = None,
    fmt: FormatOption = None,
    out_path: OutOption = None,
    tz: TzOption = None,
    windows: Annotated[
        int,
        typer.Option(
            "--windows",
            min=2,
            max=24,
            help="HTML: windows of the same length shown as each metric's trend (the last one is the report's).",
        ),
    ] = 6,
    output: OutputOption = None,
) -> None:
    """The platform's key success metrics against their targets, each with its source (or why it is unknown)."""
    from coursectl.api.metrics import dora_report, make_window, success_history, success_report
    from coursectl.render.formats import HELPERS
    from coursectl.wiring import git_source, success_sources

    state = state_of(ctx)
    state.out(output)
    if out_path is not None:
        check_writable(out_path, "--out")
    metrics, service_paths, cfg_repo, _ = _metrics_config(state)
    zone = _zone(tz or metrics.timezone)
    window = make_window(zone, since=since, start=start, end=end, default_days=metrics.window / 86400.0)
    environment = env or metrics.environment
    git = git_source(cfg_repo, service_paths, metrics.shared_paths) if cfg_repo is not None else None
    sources = success_sources(metrics, state.state_dir())
    ledger = state.ledger()
    dora_data = dora_report(
        ledger,
        window,
        environment=environment,
        service=service,
        tiers_year=metrics.tiers,
        min_deployments=metrics.min_deployments,
        git=git,
    )
    data = success_report(
        ledger, window, metrics, environment=environment, service=service, sources=sources, dora=dora_data
    )

    def table(console: Console) -> None:
        from rich.table import Table

        from coursectl.render.formats import metric_value

        console.print(
            f"Key success metrics — {environment}: {data['window']['from_local']} → {data['window']['to_local']}",
            markup=False,
        )
        t = Table(box=None, pad_edge=False)
        for c in ("metric", "value", "target", "status", "source"):
            t.add_column(c, overflow="fold")
        for m in data["metrics"]:
            status = m["status"] + (f" ({m['reason']})" if m["reason"] else "")
            t.add_row(m["label"], metric_value(m), m["target"], status, m["source"])
        console.print(t)

    html = None
    if fmt is Format.html:
        history = success_history(
            ledger,
            window,
            metrics,
            environment=environment,
            service=service,
            sources=sources,
            windows=windows,
            git=git,
        )
        html = (
            "reports/success.html.j2",
            {
                "r": data,
                "rows": success_rows(data, history),
                "windows": len(history),
                "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **HELPERS,
            },
        )
    _emit(
        state,
        output,
        fmt,
        out_path,
        data,
        markdown=("reports/success.md.j2", {"r": data, **HELPERS}),
        html=html,
        table=table,
    )


def success_rows(data: dict[str, Any], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each metric of ``data`` with a sparkline of its value over ``history`` (oldest first) and the target."""
    from coursectl.render.charts import sparkline

    rows = []
    for line in data["metrics"]:
        points = []
        for past in history:
            match = next((m for m in past["metrics"] if m["key"] == line["key"]), None)
            label = past["window"]["to_local"][:10]
            points.append((label, None if match is None else match["value"]))
        target = _target_number(line)
        rows.append(
            {
                **line,
                "chart": sparkline(
                    points,
                    title=f"{line['label']} over the last {len(history)} windows",
                    target=target,
                    chart_id=f"spark-{line['key']}",
                ),
            }
        )
    return rows


def _target_number(line: dict[str, Any]) -> float | None:
    """The number in a target text such as ``>= 99.9 %``, ``< 1 h``, ``>= 3 per day`` in the line's unit."""
    import re

    text = line["target"]
    m = re.search(r"([0-9]+(?:\.[0-9]+)?)\s*(%|h|min|s|d)?", text)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    if line["unit"] == "ratio" and unit == "%":
        return value / 100
    if line["unit"] == "seconds":
        return value * {"h": 3600, "min": 60, "s": 1, "d": 86400}.get(unit or "s", 1)
    return value
