"""`coursectl ledger import|export`: bring deployment history in from JSONL, and take it out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption
from coursectl.cli._output import Output, check_writable, write_report_file

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    help="Import and export deployment history (JSONL); check or initialise the ledger.", no_args_is_help=True
)


@app.command("check")
def check(ctx: typer.Context, output: OutputOption = None) -> None:
    """Run SQLite's full integrity check on the ledger (read-only): exit 0 when sound, 4 when damaged."""
    from coursectl.errors import PreconditionError
    from coursectl.ledger import check_ledger

    state = state_of(ctx)
    out = state.out(output)
    report = check_ledger(state.state_dir() / "ledger.db")

    def human(console: Console) -> None:
        if report["ok"]:
            console.print(
                f"ok: {report['path']} — schema {report['schema_version']}, {report['events']} events, "
                f"{report['size_bytes']:,} bytes; SQLite integrity check passed",
                markup=False,
            )
            return
        console.print(f"DAMAGED: {report['path']}", style="bold red", markup=False)
        for problem in report["problems"]:
            console.print(f"  - {problem}", markup=False)

    out.result(report, human=human, ids=[report["path"]] if report["ok"] else [])
    if not report["ok"]:
        raise PreconditionError(
            f"the ledger at {report['path']} is damaged: {len(report['problems'])} problem(s), first: "
            f"{report['problems'][0]}",
            hint="restore it from a backup; `coursectl ledger export` saves what can still be read",
            details={"problems": report["problems"]},
        )


@app.command("init")
def init(ctx: typer.Context, output: OutputOption = None) -> None:
    """Create the ledger, or give the schema to an empty ledger file (one emptied to 0 bytes); a ledger that is
    already there is left as it is."""
    import os

    from coursectl.ledger import open_ledger
    from coursectl.ledger.migrations import SCHEMA_VERSION

    state = state_of(ctx)
    out = state.out(output)
    path = state.state_dir() / "ledger.db"
    existed = os.path.lexists(path)
    had_schema = existed and path.is_file() and path.stat().st_size > 0 and _has_schema(path)
    open_ledger(path.parent, initialise=True).close()
    what = "already initialised" if had_schema else ("initialised" if existed else "created")
    out.result(
        {"path": str(path), "result": what, "schema_version": SCHEMA_VERSION},
        human=f"{path}: {what} (schema {SCHEMA_VERSION})",
        ids=[str(path)],
    )


def _has_schema(path: Path) -> bool:
    import sqlite3

    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0]) > 0
        finally:
            conn.close()
    except sqlite3.Error:
        return False


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL file: one deployment or rollback per line.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; write nothing.")] = False,
    output: OutputOption = None,
) -> None:
    """Import deployments and rollbacks; every line is validated first and nothing is half-imported.

    Records already in the ledger (same kind, service, environment, version, commit/versions and times) are
    skipped, so importing the same file twice does not duplicate anything.
    """
    from coursectl.domain import current_actor
    from coursectl.ledger.jsonl import read_events

    state = state_of(ctx)
    out = state.out(output)
    events = read_events(file, importer=current_actor())
    if dry_run:
        data = {"file": str(file), "valid": len(events), "imported": 0, "skipped": 0, "dry_run": True}
        out.result(
            data,
            human=f"{len(events)} valid records in {file}; nothing imported (--dry-run)",
            ids=[str(len(events))],
        )
        return
    imported, skipped = state.ledger().import_events(events)
    data = {"file": str(file), "valid": len(events), "imported": imported, "skipped": skipped, "dry_run": False}
    out.result(
        data,
        human=f"imported {imported} records from {file}"
        + (f" ({skipped} already in the ledger)" if skipped else ""),
        ids=[str(imported)],
    )


@app.command("export")
def export(
    ctx: typer.Context,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (default: stdout).", show_default=False)
    ] = None,
    env: EnvOption = None,
    service: Annotated[
        str | None, typer.Option("--service", "-s", help="Only this service.", show_default=False)
    ] = None,
    output: OutputOption = None,
) -> None:
    """Export deployments and rollbacks as JSONL, in the format `ledger import` reads (oldest first)."""
    from coursectl.ledger.jsonl import dump_lines, event_to_record

    state = state_of(ctx)
    out = state.out(output)
    if out_path is not None:
        check_writable(out_path, "--out")
    ledger = state.ledger()
    events = ledger.events(kinds=["deployment", "rollback"], environment=env, service=service, newest_first=False)
    records = (
        event_to_record(
            e, ledger.deployment_commits(e.id) if e.kind == "deployment" and e.id is not None else None
        )
        for e in events
    )
    if out_path is None:
        for line in dump_lines(records):
            sys.stdout.write(Output.clean_document(line, json_text=True) + "\n")
        sys.stdout.flush()
        return
    write_report_file(out_path, "".join(line + "\n" for line in dump_lines(records)))
    out.result(
        {"file": str(out_path), "exported": len(events)},
        human=f"exported {len(events)} records to {out_path}",
        ids=[str(out_path)],
    )
