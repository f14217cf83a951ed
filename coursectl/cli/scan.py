"""`coursectl scan`: run Trivy/Snyk on the services, print the findings, write reports, enforce the policy."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, JUnitOption, OutputOption
from coursectl.cli._output import check_writable, write_report_file

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.scan.report import ScanReport


class Kind(str, Enum):  # noqa: UP042 - typer choice; StrEnum would change str() in output
    image = "image"
    fs = "fs"
    config = "config"


class ScannerChoice(str, Enum):  # noqa: UP042 - typer choice; StrEnum would change str() in output
    trivy = "trivy"
    snyk = "snyk"
    all = "all"


class ReportFormat(str, Enum):  # noqa: UP042 - typer choice; StrEnum would change str() in output
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"


class FailOn(str, Enum):  # noqa: UP042 - typer choice; StrEnum would change str() in output
    UNKNOWN = "UNKNOWN"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


_STYLE = {"CRITICAL": "bold red", "HIGH": "red", "MEDIUM": "yellow", "LOW": "cyan", "UNKNOWN": "dim"}


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)


def format_for(path: Path, default: ReportFormat | None) -> ReportFormat:
    """The format of a report file: from its name (.sarif, .xml, .json), else ``--format``."""
    name = path.name.lower()
    if name.endswith((".sarif", ".sarif.json")):
        return ReportFormat.sarif
    if name.endswith(".xml"):
        return ReportFormat.junit
    if name.endswith(".json"):
        return ReportFormat.json
    if default is not None and default is not ReportFormat.table:
        return default
    from coursectl.errors import UsageError

    raise UsageError(
        f"--report {path}: cannot tell the format from the name",
        hint="name it .sarif, .xml (JUnit) or .json, or pass --format sarif|junit|json",
    )


def render_report(report: ScanReport, fmt: ReportFormat) -> str:
    """The report document in ``fmt`` (json, sarif or junit)."""
    from coursectl.cli._output import dumps
    from coursectl.render.scan_reports import to_junit, to_sarif

    if fmt is ReportFormat.sarif:
        return dumps(to_sarif(report)) + "\n"
    if fmt is ReportFormat.junit:
        return to_junit(report)
    return dumps(report.to_dict()) + "\n"


def _wide(console: Console) -> Console:
    """The console itself on a terminal; elsewhere (Jenkins logs) one wide enough not to cut ids short."""
    if console.is_terminal:
        return console
    from rich.console import Console as RichConsole

    return RichConsole(
        file=console.file, width=max(console.width, 200), highlight=False, soft_wrap=True, color_system=None
    )


def human_report(report: ScanReport, console: Console) -> None:
    """A table per service (findings sorted by severity), the runs, and the verdict."""
    from rich.table import Table

    from coursectl.render.printable import printable

    for service in dict.fromkeys(r.service for r in report.runs):
        runs = [r for r in report.runs if r.service == service]
        findings = report.findings_of(service)
        console.print(f"\n{service}  {runs[0].target}", style="bold", markup=False)
        for run in runs:
            note = f" — {run.message}" if run.message else ""
            style = {"error": "bold red", "skipped": "yellow"}.get(run.status, "green")
            console.print(f"  {run.scanner}: {run.status.upper()}{note}", style=style, markup=False)
        if not findings:
            if any(r.status == "ok" for r in runs):
                console.print("  no findings", markup=False)
            continue
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("severity", "id", "package", "installed", "fixed", "scanners", "decision"):
            table.add_column(column, overflow="fold")
        previous = None
        for j in findings:
            f = j.finding
            if previous is not None and f.severity != previous:
                table.add_section()  # one group per severity, CRITICAL first
            previous = f.severity
            decision = j.decision + (f" ({j.reason})" if j.reason else "")
            cells = (
                f.severity,
                f.id,
                f.package,
                f.installed_version,
                f.fixed_version[:30],
                ",".join(f.scanners),
                decision,
            )  # scanner output is data from packages: printable text only
            table.add_row(*map(printable, cells), style=_STYLE[f.severity] if j.blocking else "dim")
        # Jenkins logs are not terminals: give the table room instead of cutting ids short
        _wide(console).print(table)
    for entry in report.expired_ignores:
        console.print(
            f"\nexpired ignore entry #{entry.index}: {printable(entry.id)} (expired {entry.expires}) — "
            f"{printable(entry.reason)}",
            style="yellow",
            markup=False,
        )
    summary = report.to_dict()["summary"]
    severities = ", ".join(f"{n} {s}" for s, n in summary["by_severity"].items() if n)
    verdict = {"blocked": "BLOCKED", "passed": "PASSED", "error": "ERROR", "skipped": "SKIPPED"}[report.outcome]
    console.print(
        f"\n{verdict}: {summary['findings']} finding(s){' (' + severities + ')' if severities else ''}, "
        f"{summary['blocking']} blocking at or above {report.fail_on}",
        style={"BLOCKED": "bold red", "ERROR": "bold red", "SKIPPED": "yellow"}.get(verdict, "bold green"),
        markup=False,
    )


def scan(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None, typer.Argument(help="Services to scan (default: all).", show_default=False)
    ] = None,
    kind: Annotated[
        Kind,
        typer.Option(
            "--kind",
            "-k",
            help="image: the service's current image; fs: its folder "
            "(dependencies, secrets); config: its Dockerfile and manifests.",
        ),
    ] = Kind.image,
    scanner: Annotated[
        ScannerChoice | None,
        typer.Option("--scanner", help="Which scanner (default: scan.scanners).", show_default=False),
    ] = None,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(
            "--fail-on",
            case_sensitive=False,
            show_default=False,
            help="Lowest severity that blocks (default: scan.fail_on).",
        ),
    ] = None,
    ignore_unfixed: Annotated[
        bool | None,
        typer.Option(
            "--ignore-unfixed/--no-ignore-unfixed",
            show_default=False,
            help="Vulnerabilities without a fix do not block.",
        ),
    ] = None,
    ignore_file: Annotated[
        Path | None,
        typer.Option(
            "--ignore-file", metavar="PATH", show_default=False, help="Ignore file (default: scan.ignore_file)."
        ),
    ] = None,
    skip_missing: Annotated[
        bool | None,
        typer.Option(
            "--skip-missing/--no-skip-missing",
            show_default=False,
            help="A scanner that is not installed is recorded as skipped instead of failing (exit 4).",
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            help="Image tag to scan (default: the last built/pushed, else HEAD's short sha).",
            show_default=False,
        ),
    ] = None,
    use_sbom: Annotated[
        bool,
        typer.Option(
            "--use-sbom/--no-use-sbom",
            help="Trivy reads the image's recorded SBOM (`trivy sbom`) instead of "
            "pulling the image, when `coursectl sbom` made one for the tag.",
        ),
    ] = True,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            show_default=False,
            help="Report format: table, json, sarif or junit.",
        ),
    ] = None,
    report_paths: Annotated[
        list[Path] | None,
        typer.Option(
            "--report",
            metavar="PATH",
            show_default=False,
            help="Write the report here (repeatable; the format follows the name: .sarif, .xml, .json).",
        ),
    ] = None,
    junit: JUnitOption = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Scan images (or folders) with Trivy and Snyk, then apply the policy.

    Exit 0 pass, 6 blocked, 5 scanner error.
    """
    from coursectl.api.scan import ScanRequest, run_scan
    from coursectl.errors import GateBlocked
    from coursectl.render.tags import validate_tag
    from coursectl.wiring import head_commit, scanners

    state = state_of(ctx)
    out = state.out(output)
    if tag is not None:
        validate_tag(tag)
    loaded = state.config(env)
    request = ScanRequest(
        services=tuple(services or ()),
        kind=kind.value,
        scanners=None
        if scanner is None
        else (("trivy", "snyk") if scanner is ScannerChoice.all else (scanner.value,)),
        fail_on=fail_on.value if fail_on else None,
        ignore_unfixed=ignore_unfixed,
        ignore_file=ignore_file,
        skip_missing=skip_missing,
        tag=tag,
        environment=loaded.env_name,
        use_sbom=use_sbom,
    )
    paths = list(report_paths or [])
    formats = [format_for(path, fmt) for path in paths]
    for path in paths:  # before scanning: a report that cannot be written fails before anything is recorded
        check_writable(path, "--report")
    targets = ", ".join(request.services) or "every service"
    out.progress(f"scanning {targets} ({kind.value})")
    report = run_scan(
        loaded, request, scanners=scanners(loaded), commit=head_commit(loaded.root), ledger=state.ledger()
    )

    written = list(zip(paths, formats, strict=True))
    if junit is not None:
        written.append((junit, ReportFormat.junit))
    for path, chosen in written:
        write_report_file(path, render_report(report, chosen))
        out.progress(f"wrote {chosen.value} report {path}")
    for run in report.skipped:
        out.warn(f"{run.scanner} skipped on {run.service}: {run.message}")
    for entry in report.expired_ignores:
        out.warn(f"ignore entry #{entry.index} ({entry.id}) expired on {entry.expires}: it no longer ignores")

    if fmt in (ReportFormat.sarif, ReportFormat.junit, ReportFormat.json) and not paths:
        out.document(render_report(report, fmt), json_text=fmt is not ReportFormat.junit)
    else:
        out.result(
            report.to_dict(),
            human=lambda console: human_report(report, console),
            ids=[f"{j.finding.service}:{j.finding.id}:{j.finding.package}" for j in report.blocking],
        )

    if report.blocking:
        ids = sorted({j.finding.id for j in report.blocking})
        message = (
            f"scan blocked: {len(report.blocking)} finding(s) at or above {report.fail_on}: "
            f"{', '.join(ids[:8])}{' …' if len(ids) > 8 else ''}"
        )
        blocked_services = sorted({str(j.finding.service) for j in report.blocking})
        state.announce_gate(
            "scan policy",
            message,
            environment=loaded.env_name,
            service=blocked_services[0] if len(blocked_services) == 1 else None,
            details=[
                f"{j.finding.service}: {j.finding.id} {j.finding.severity} in {j.finding.package}"
                f" {j.finding.installed_version}".rstrip()
                for j in report.blocking[:40]
            ],
        )
        raise GateBlocked(
            message,
            hint="fix them, or accept a risk in the ignore file with a reason and an expiry date",
            details={"blocking": len(report.blocking)},
        )
    if report.errors:
        first = report.errors[0]
        if first.error is not None:
            raise first.error
