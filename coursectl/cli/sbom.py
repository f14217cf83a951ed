"""`coursectl sbom`: make an image's SBOM with syft, judge its licences; `sbom diff`: what changed between two."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.api.sbom import SbomResult
    from coursectl.sbom.diff import SbomDiff


class _DefaultGroup(typer.core.TyperGroup):
    """``coursectl sbom SERVICE …`` runs ``sbom make SERVICE …``; ``sbom diff …`` and ``sbom make …`` as named."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["make", *args]
        return list(super().parse_args(ctx, args))


app = typer.Typer(
    cls=_DefaultGroup,
    help="Software bills of materials (syft): `coursectl sbom SERVICE` makes one and checks its licences; "
    "`coursectl sbom diff SERVICE A B` shows what changed between two versions.",
    no_args_is_help=True,
)


class SbomFormat(StrEnum):
    table = "table"
    cyclonedx_json = "cyclonedx-json"
    spdx_json = "spdx-json"


class Source(StrEnum):
    auto = "auto"
    docker = "docker"
    registry = "registry"


def _packages_table(result: SbomResult, console: Console) -> None:
    from rich.table import Table

    doc = result.document
    if doc is None:
        return
    table = Table(title=f"{result.service} {result.version} — {result.image}", title_justify="left")
    for col in ("name", "version", "type", "licences"):
        table.add_column(col, overflow="fold")
    for p in sorted(doc.packages, key=lambda p: (p.type, p.name.lower(), p.version)):
        table.add_row(p.name, p.version, p.type, ", ".join(p.licenses) or "-")
    console.print(table)


def table_text(result: SbomResult) -> str:
    """The packages as plain aligned text (``--format table --out PATH``)."""
    doc = result.document
    rows = [("NAME", "VERSION", "TYPE", "LICENCES")]
    for p in sorted(doc.packages if doc else (), key=lambda p: (p.type, p.name.lower(), p.version)):
        rows.append((p.name, p.version, p.type, ", ".join(p.licenses) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() + "\n" for r in rows
    )


@app.command("make")
def make(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service whose image is described.")],
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="Image tag (default: the last built/pushed, else HEAD's short sha).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        SbomFormat,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="table (packages), cyclonedx-json or spdx-json (the document): "
            "what goes to --out, else to stdout.",
        ),
    ] = SbomFormat.table,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", metavar="PATH", show_default=False, help="Write the SBOM (in --format) here too."),
    ] = None,
    source: Annotated[
        Source | None,
        typer.Option(
            "--source",
            case_sensitive=False,
            show_default=False,
            help="Where syft reads the image: docker (the engine), registry, auto (default: sbom.source).",
        ),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Run syft again even when an SBOM of this image is recorded.")
    ] = False,
    report_paths: Annotated[
        list[Path] | None,
        typer.Option(
            "--report",
            metavar="PATH",
            show_default=False,
            help="Licence report (repeatable; .sarif, .xml JUnit, .json), as `coursectl scan` writes them.",
        ),
    ] = None,
    ignore_file: Annotated[
        Path | None,
        typer.Option(
            "--ignore-file",
            metavar="PATH",
            show_default=False,
            help="Accepted licence findings (default: scan.ignore_file).",
        ),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Make (or reuse) the SBOM of a service's image with syft, store it beside the build, record its digest
    with the image digest, and check the licence policy: exit 0 ok, 6 a denied licence, 4 syft or image
    missing, 5 syft failed."""
    from coursectl.api.sbom import SbomRequest
    from coursectl.cli._output import OutputMode, check_writable, write_report_file
    from coursectl.cli.scan import format_for, render_report
    from coursectl.errors import GateBlocked
    from coursectl.wiring import sbom_service

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    formats = ("cyclonedx-json",) if fmt is SbomFormat.table else (fmt.value,)
    request = SbomRequest(
        service=service,
        version=version,
        formats=formats,
        source=source.value if source else None,
        refresh=refresh,
        environment=loaded.env_name,
    )
    paths = list(report_paths or [])
    chosen = [(p, format_for(p, None)) for p in paths]  # a bad report name is exit 2 before syft runs
    for path in paths:  # and one that cannot be written, before anything is made or recorded
        check_writable(path, "--report")
    if out_path is not None:
        check_writable(out_path, "--out")
    svc = sbom_service(loaded, state_dir=state.state_dir(), ledger=state.ledger())
    out.progress(f"sbom: {service} {version or '(current version)'}")
    result = svc.make(request)
    report = svc.licenses([result], ignore_file=ignore_file)
    svc.record(request, result, report)
    out.progress(
        f"{'reused' if result.status == 'reused' else 'made'} {result.path()} "
        f"({result.packages} packages, {result.source}, image {result.image_digest[:19]})"
    )
    for path, rfmt in chosen:
        write_report_file(path, render_report(report, rfmt))
        out.progress(f"wrote {rfmt.value} licence report {path}")
    for entry in report.expired_ignores:
        out.warn(f"ignore entry #{entry.index} ({entry.id}) expired on {entry.expires}: it no longer ignores")

    document = table_text(result) if fmt is SbomFormat.table else None
    if fmt is not SbomFormat.table:
        stored = result.path(fmt.value)
        assert stored is not None
        document = stored.read_text(encoding="utf-8")
    if out_path is not None:
        write_report_file(out_path, document or "")
        out.progress(f"wrote {fmt.value} SBOM {out_path}")

    data = {**result.to_dict(), "license_check": report.to_dict()}
    if fmt is not SbomFormat.table and out_path is None and out.mode is OutputMode.human:
        out.document(document or "", json_text=True)
    else:

        def human(console: Console) -> None:
            _packages_table(result, console)
            _license_lines(report, console)

        out.result(data, human=human, ids=[str(result.path())])
    if report.blocking:
        ids = sorted({f"{j.finding.id} ({j.finding.package})" for j in report.blocking})
        raise GateBlocked(
            f"licence policy blocked {service} {result.version}: {len(report.blocking)} finding(s): "
            f"{', '.join(ids[:6])}{' …' if len(ids) > 6 else ''}",
            hint="replace the package, change sbom.deny_licenses / sbom.allow_unknown, or accept it in the ignore "
            "file with a reason and an expiry date",
            details={"blocking": len(report.blocking)},
        )


def _license_lines(report: Any, console: Console) -> None:
    for run in report.runs:
        meta = run.meta or {}
        console.print(
            f"licences of {run.service}: {meta.get('packages', 0)} packages, "
            f"{meta.get('unknown_licenses', 0)} without a declared licence",
            markup=False,
        )
    for j in report.judged:
        style = "red" if j.blocking else "dim"
        console.print(f"  {j.decision.upper():<9} {j.finding.title}" + (f" — {j.reason}" if j.reason else ""),
                      style=style, markup=False)  # fmt: skip
    verdict = "BLOCKED" if report.blocking else "PASSED"
    console.print(
        f"licence policy: {verdict}", style="bold red" if report.blocking else "bold green", markup=False
    )


def _diff_human(d: SbomDiff, console: Console) -> None:
    before, after = d.meta.get("before", {}), d.meta.get("after", {})
    console.print(f"{d.meta.get('service')}: {before.get('version')} → {after.get('version')}", markup=False)
    for p in d.added:
        console.print(f"  + {p.name} {p.version} ({p.type})", style="green", markup=False)
    for p in d.removed:
        console.print(f"  - {p.name} {p.version} ({p.type})", style="red", markup=False)
    for c in d.changed:
        mark = {"upgraded": "↑", "downgraded": "↓"}.get(c.change, "~")
        console.print(f"  {mark} {c.describe()} ({c.type}, {c.change})", style="yellow", markup=False)
    counts = d.counts()
    console.print(
        f"{counts['added']} added, {counts['removed']} removed, {counts['upgraded']} upgraded, "
        f"{counts['downgraded']} downgraded, {counts['changed']} changed, {counts['unchanged']} unchanged",
        markup=False,
    )


@app.command("diff")
def diff_cmd(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service.")],
    before: Annotated[str, typer.Argument(metavar="A", help="The older version (image tag).")],
    after: Annotated[str, typer.Argument(metavar="B", help="The newer version (image tag).")],
    no_make: Annotated[
        bool,
        typer.Option(
            "--no-make", help="Only use recorded SBOMs (exit 4 when one is missing) instead of making it."
        ),
    ] = False,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Packages added, removed, upgraded and downgraded between versions A and B of a service (identity: the
    package URL without version, else type and name). A version without a recorded SBOM gets one made first."""
    from coursectl.wiring import sbom_service

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    svc = sbom_service(loaded, state_dir=state.state_dir(), ledger=state.ledger())
    d = svc.diff(service, before, after, make_missing=not no_make)
    ids = [f"+{p.key}@{p.version}" for p in d.added] + [f"-{p.key}@{p.version}" for p in d.removed]
    ids += [f"~{c.key}@{','.join(c.before)}->{','.join(c.after)}" for c in d.changed]
    out.result(d.to_dict(), human=lambda console: _diff_human(d, console), ids=ids)
