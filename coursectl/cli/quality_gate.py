"""`coursectl quality-gate`: await SonarQube's analysis, print the quality gate's conditions; exit 6 on ERROR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import MAX_WAIT, EnvOption, JUnitOption, OutputOption, finite

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.api.quality_gate import GateResult


def register(app: typer.Typer) -> None:
    app.command("quality-gate")(quality_gate)


_COMPARATOR = {"GT": ">", "LT": "<", "EQ": "=", "NE": "!="}


def human_gate(result: GateResult, console: Console) -> None:
    from rich.table import Table

    gate = result.gate
    if result.states:
        console.print(f"analysis task: {' → '.join(result.states)}", markup=False)
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("status", "metric", "comparator", "threshold", "actual"):
        table.add_column(column)
    for c in gate.conditions:
        table.add_row(
            c.status,
            c.metric,
            f"{c.comparator} ({_COMPARATOR.get(c.comparator, '?')})",
            c.threshold if c.threshold is not None else "-",
            c.actual if c.actual is not None else "-",
            style="red" if c.failed else None,
        )
    if gate.conditions:
        console.print(table)
    style = "bold green" if result.outcome == "passed" else "bold red"
    console.print(
        f"quality gate of {result.project_key}: {gate.status} ({result.outcome})", style=style, markup=False
    )
    if result.dashboard_url:
        console.print(result.dashboard_url, markup=False)


def quality_gate(
    ctx: typer.Context,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="Project key (default: sonarqube.project_key or report-task.txt's).",
            show_default=False,
        ),
    ] = None,
    report_task: Annotated[
        Path | None,
        typer.Option(
            "--report-task",
            metavar="PATH",
            show_default=False,
            help="The scanner's report-task.txt (default: sonarqube.report_task).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=0,
            max=MAX_WAIT,
            callback=finite,
            show_default=False,
            help="Wait at most this long for the analysis.",
        ),
    ] = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(
            "--poll-interval",
            metavar="SECONDS",
            min=0,
            max=3600,
            callback=finite,
            show_default=False,
            help="Pause between polls.",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="SonarQube URL (default: sonarqube.url, else the report's serverUrl).",
            show_default=False,
        ),
    ] = None,
    junit: JUnitOption = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Wait for SonarQube's analysis, then print the quality gate: exit 0 OK, 6 ERROR, 5 failed task or timeout."""
    from coursectl.api.quality_gate import check_quality_gate, read_report_task
    from coursectl.errors import GateBlocked, PreconditionError
    from coursectl.wiring import head_commit, sonarqube

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    cfg = loaded.config.sonarqube
    task = None
    explicit_key = project or None
    if report_task is not None or not explicit_key:
        path = report_task or (loaded.root / cfg.report_task)
        task = read_report_task(path)
    key = explicit_key or cfg.project_key or (task.project_key if task else None)
    if task is not None and explicit_key and task.project_key != explicit_key:
        out.warn(f"--project {explicit_key} differs from {task.project_key} in the report task; using the task's")
        key = task.project_key
    server = url or cfg.url or (task.server_url if task else None)
    if not server:
        raise PreconditionError("no SonarQube URL", hint="set sonarqube.url or pass --url")
    token = cfg.token.resolve(secrets_file=state.state_dir() / "secrets.env")
    gate = sonarqube(server, token)
    out.progress(f"waiting for SonarQube's quality gate of {key}" + (f" (task {task.ce_task_id})" if task else ""))
    from coursectl.cli._output import write_report
    from coursectl.errors import CoursectlError
    from coursectl.render.junit import Case, gate_cases, to_xml

    try:
        result = check_quality_gate(
            gate,
            report_task=task,
            project_key=key,
            timeout=cfg.timeout if timeout is None else timeout,
            poll_interval=cfg.poll_interval if poll_interval is None else poll_interval,
            none_is_failure=cfg.none_is_failure,
            ledger=state.ledger(),
            environment=loaded.env_name,
            git_commit=head_commit(loaded.root),
        )
    except CoursectlError as exc:  # the analysis failed or timed out: Jenkins shows it as an error
        if junit is not None:
            write_report(
                junit,
                to_xml(
                    "coursectl quality-gate",
                    [Case(f"quality-gate.{key}", "analysis", error=exc.message, kind=exc.kind)],
                ),
            )
        raise
    finally:
        gate.close()
    if junit is not None:
        write_report(
            junit,
            to_xml(
                "coursectl quality-gate",
                gate_cases(result.project_key, result.gate.conditions, result.gate.status),
            ),
        )
        out.progress(f"wrote junit report {junit}")
    out.result(result.to_dict(), human=lambda console: human_gate(result, console), ids=[result.gate.status])
    if result.outcome == "blocked":
        failed = result.gate.failed_conditions
        listed = "; ".join(
            f"{c.metric} {c.actual} {_COMPARATOR.get(c.comparator, c.comparator)} {c.threshold}" for c in failed
        )
        state.announce_gate(
            "quality gate",
            f"quality gate of {key} is {result.gate.status}" + (f": {listed}" if listed else ""),
            environment=loaded.env_name,
            details=[
                f"{c.metric}: {c.actual} {_COMPARATOR.get(c.comparator, c.comparator)} {c.threshold}"
                for c in failed
            ],
        )
        raise GateBlocked(
            f"quality gate of {key} is {result.gate.status}" + (f": {listed}" if listed else ""),
            details={"failed_conditions": [c.to_dict() for c in failed]},
        )
