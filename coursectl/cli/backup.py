"""`coursectl backup create|list|verify|restore|prune`: encrypted backups, proven by restoring them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from coursectl.cli._app import confirm_or_fail, state_of
from coursectl.cli._options import DryRunOption, OutputOption, YesOption

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.api.backup import BackupContext
    from coursectl.cli._app import AppState
    from coursectl.cli._output import Output

app = typer.Typer(
    help="Encrypted backups of databases, Jenkins and the ledger, proven by restoring them.", no_args_is_help=True
)

SourceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--source",
        "-s",
        help="Only this source (repeatable; default: every configured source).",
        show_default=False,
    ),
]


def _context(state: AppState, out: Output) -> BackupContext:
    from coursectl.wiring import backup_context, backup_outcome_hook

    loaded = state.config()
    bctx: BackupContext = backup_context(
        loaded,
        state.state_dir(),
        ledger=state.ledger(),
        progress=out.progress,
        on_outcome=backup_outcome_hook(state.notifications()),
    )
    return bctx


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def human_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"


@app.command("create")
def create(
    ctx: typer.Context,
    sources: Annotated[
        list[str] | None, typer.Argument(help="Sources to back up (default: all).", show_default=False)
    ] = None,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> None:
    """Back up sources: stream, compress, encrypt into the store; the manifest is written last."""
    from coursectl.api import backup as uc

    state = state_of(ctx)
    out = state.out(output)
    bctx = _context(state, out)
    names = bctx.names(sources)
    if dry_run:
        plan = []
        for name in names:
            settings = bctx.settings(name)
            store = bctx.store(settings.store)
            store.check()
            bctx.source_factory(name).check()
            plan.append(
                {"source": name, "kind": settings.kind, "store": settings.store, "location": store.location()}
            )
        out.result(
            {"dry_run": True, "plan": plan},
            human="\n".join(
                f"would back up {p['source']} ({p['kind']}) into {p['store']}: {p['location']}" for p in plan
            ),
            ids=[p["source"] for p in plan],
        )
        return
    results = uc.create(bctx, names)

    def human(console: Console) -> None:
        for r in results:
            if r.ok and r.manifest is not None:
                m = r.manifest
                rate = m.plain_size / 1e6 / r.seconds if r.seconds else 0.0
                console.print(
                    f"{r.source}: backup {r.backup_id} in {r.store}: {len(m.parts)} parts,"
                    f" {human_size(m.plain_size)} ({human_size(m.stored_size)} stored) in {r.seconds:.1f} s"
                    f" ({rate:.0f} MB/s)",
                    markup=False,
                )
            elif r.error is not None:
                console.print(f"{r.source}: FAILED: {r.error.message}", markup=False)

    out.result(
        {"backups": [r.to_dict() for r in results]},
        human=human,
        ids=[f"{r.source}/{r.backup_id}" for r in results if r.ok],
    )
    failed = [r for r in results if r.error is not None]
    if failed:
        raise failed[0].error  # type: ignore[misc]


@app.command("list")
def list_(ctx: typer.Context, source: SourceOption = None, output: OutputOption = None) -> None:
    """List complete backups (size, age, verified or not, last restore) and leftovers of interrupted ones."""
    from coursectl.api import backup as uc

    state = state_of(ctx)
    out = state.out(output)
    listing = uc.list_backups(_context(state, out), source)

    def human(console: Console) -> None:
        from rich.table import Table

        if not listing.backups:
            console.print("no backups yet", markup=False)
        else:
            table = Table(box=None, pad_edge=False)
            for column in ("source", "backup", "created (UTC)", "age", "size", "status", "last restore"):
                table.add_column(column)
            for b in listing.backups:
                restore = ""
                if b.last_restore is not None:
                    restore = (
                        f"{b.last_restore.time:%Y-%m-%d %H:%M} in {b.last_restore.restore_seconds or 0:.1f} s"
                    )
                table.add_row(
                    b.source,
                    b.backup_id,
                    f"{b.created_at:%Y-%m-%d %H:%M:%S}",
                    human_age((listing.now - b.created_at).total_seconds()),
                    human_size(b.stored_size),
                    b.status,
                    restore,
                )
            console.print(table)
        for x in listing.leftovers:
            console.print(
                f"incomplete (not a backup): {x.source} {x.key} — {x.what}, {human_size(x.size)},"
                f" last written {x.modified:%Y-%m-%d %H:%M} UTC; prune removes it after the grace period",
                markup=False,
            )

    out.result(listing.to_dict(), human=human, ids=[f"{b.source}/{b.backup_id}" for b in listing.backups])


@app.command("verify")
def verify(
    ctx: typer.Context,
    backup_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="Backup id, or SOURCE/ID.", show_default=False)
    ] = None,
    latest: Annotated[bool, typer.Option("--latest", help="The newest backup of each source.")] = False,
    restore: Annotated[
        bool,
        typer.Option(
            "--restore",
            help="Also restore into a scratch place and compare "
            "(row counts, CHECKSUM TABLE, event counts, files).",
        ),
    ] = False,
    source: SourceOption = None,
    output: OutputOption = None,
) -> None:
    """Read every part of a backup and check it against its manifest; exit 6 when anything is wrong."""
    from coursectl.api import backup as uc
    from coursectl.errors import UsageError

    if bool(backup_id) == latest:
        raise UsageError("give either a backup ID or --latest")
    state = state_of(ctx)
    out = state.out(output)
    results = uc.verify(_context(state, out), backup_id, latest=latest, restore=restore, sources=source)

    def human(console: Console) -> None:
        for r in results:
            verdict = "OK" if r.ok else "FAILED"
            line = f"{r.source}/{r.backup_id}: {verdict} — {r.parts} parts, {human_size(r.bytes_read)} read"
            if r.restored:
                line += f"; restored into {r.where} in {r.restore_seconds or 0:.1f} s"
            console.print(line + f" ({r.seconds:.1f} s)", markup=False)
            for item in r.checked:
                console.print(f"  checked: {item}", markup=False)
            for problem in r.problems:
                console.print(f"  problem: {problem}", markup=False)

    out.result(
        {"results": [r.to_dict() for r in results]},
        human=human,
        ids=[f"{r.source}/{r.backup_id}" for r in results if r.ok],
    )
    uc.raise_for_problems(results)


@app.command("restore")
def restore(
    ctx: typer.Context,
    backup_id: Annotated[str, typer.Argument(metavar="ID", help="Backup id, or SOURCE/ID.")],
    to: Annotated[
        list[str] | None,
        typer.Option(
            "--to",
            help="Where: a database name (OLD=NEW per database for several), or a path for the ledger,"
            " Jenkins and data folders.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Restore into a non-empty database or directory.")
    ] = False,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    output: OutputOption = None,
) -> None:
    """Restore a backup (every part is checked first); the ledger only ever to another path."""
    from coursectl.api import backup as uc
    from coursectl.errors import BackupCorrupt

    state = state_of(ctx)
    out = state.out(output)
    bctx = _context(state, out)
    targets = to or []
    plan = uc.plan_restore(bctx, backup_id, to=targets, force=force)
    if dry_run:
        out.result(
            {"dry_run": True, **plan.to_dict()},
            human=f"would restore {plan.source}/{plan.backup_id} (made {plan.created_at:%Y-%m-%d %H:%M} UTC)"
            f" into {plan.target}",
            ids=[f"{plan.source}/{plan.backup_id}"],
        )
        return
    confirm_or_fail(
        out,
        f"restore {plan.source}/{plan.backup_id} into {plan.target}"
        + (" (--force: existing data is replaced)" if force else ""),
        yes=yes,
    )
    report = uc.restore(bctx, plan, to=targets, force=force)

    def human(console: Console) -> None:
        console.print(
            f"restored {plan.source}/{plan.backup_id} into {report.where} in {report.seconds:.1f} s", markup=False
        )
        for item in (*report.checked, *report.notes):
            console.print(f"  checked: {item}" if item in report.checked else f"  {item}", markup=False)
        for problem in report.problems:
            console.print(f"  problem: {problem}", markup=False)

    out.result(report.to_dict(), human=human, ids=[f"{plan.source}/{plan.backup_id}"])
    if not report.ok:
        raise BackupCorrupt(
            f"the restore of {plan.source}/{plan.backup_id} does not match the backup: {report.problems[0]}"
        )


@app.command("prune")
def prune(
    ctx: typer.Context,
    source: SourceOption = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    output: OutputOption = None,
) -> None:
    """Remove backups the retention rules do not keep, and leftovers older than the grace period."""
    from coursectl.api import backup as uc

    state = state_of(ctx)
    out = state.out(output)
    bctx = _context(state, out)
    if not dry_run:
        confirm_or_fail(out, "remove the backups the retention rules do not keep", yes=yes)
    report = uc.prune(bctx, source, dry_run=dry_run)

    def human(console: Console) -> None:
        verb = "would remove" if dry_run else "removed"
        for s in report.sources:
            console.print(f"{s.source} ({s.store}): {s.policy}", markup=False)
            for b, reasons in s.keep:
                console.print(f"  keep   {b.backup_id}  {b.status:<10}  {', '.join(reasons)}", markup=False)
            for b in s.remove:
                console.print(f"  {verb} {b.backup_id}  {b.status}", markup=False)
            for x in s.leftovers:
                console.print(f"  {verb} {x.key} ({x.what})", markup=False)

    removed = [b.backup_id for s in report.sources for b in s.remove]
    out.result(report.to_dict(), human=human, ids=removed)
