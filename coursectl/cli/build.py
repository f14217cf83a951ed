"""`coursectl build|push|images`: build, tag and push service images; list what the registry holds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import DryRunOption, EnvOption, OutputOption

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.api.build import BuildReport, ImageService, Progress
    from coursectl.cli._app import AppState
    from coursectl.cli._output import Output

ServicesArg = Annotated[
    list[str] | None, typer.Argument(help="Services to act on (default: all).", show_default=False)
]
ParallelOption = Annotated[
    int | None, typer.Option("--parallel", "-j", min=1, max=32, help="Builds at once (default: build.parallel).")
]
TagOption = Annotated[
    list[str] | None, typer.Option("--tag", "-t", help="An extra tag for every image (repeatable).")
]


def register(app: typer.Typer) -> None:
    app.command("build")(build)
    app.command("push")(push)
    app.command("images")(images)


def _service(state: AppState, env: str | None) -> ImageService:
    from coursectl.wiring import image_service

    loaded = state.config(env)
    return image_service(loaded, state_dir=state.state_dir(), ledger=state.ledger())


@contextmanager
def _progress(out: Output, services: list[str]) -> Iterator[Progress]:
    """A rich live display per service on a terminal; plain ``service: message`` lines otherwise."""
    from coursectl.cli._output import OutputMode

    lock = threading.Lock()
    if not out.interactive:
        verbose = out.verbosity > 0

        def plain(service: str, phase: str, message: str) -> None:
            if out.mode is OutputMode.quiet or (phase == "log" and not verbose):
                return
            with lock:
                out.progress(f"{service}: {message}")

        yield plain
        return

    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    width = max((len(s) for s in services), default=8)
    bar = RichProgress(
        SpinnerColumn(),
        TextColumn(f"{{task.fields[service]:<{width}}}", style="bold"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=out.err_console,
        transient=False,
    )
    tasks = {s: bar.add_task("waiting", service=s, total=None) for s in services}

    def live(service: str, phase: str, message: str) -> None:
        task = tasks.get(service)
        if task is None:
            return
        text = message if len(message) <= 90 else message[:87] + "..."
        with lock:
            if phase in ("done", "skip", "failed"):
                style = {"done": "green", "skip": "cyan", "failed": "red"}[phase]
                bar.update(task, description=f"[{style}]{text}[/{style}]", total=1, completed=1)
            else:
                bar.update(task, description=text)

    with bar:
        yield live


def _render(report: BuildReport) -> object:
    def human(console: Console) -> None:
        from rich.table import Table

        table = Table(box=None, pad_edge=False)
        for column in ("service", "status", "push", "version", "digest", "time"):
            table.add_column(column, no_wrap=True)
        table.add_column("note", overflow="fold")
        for r in report.results:
            status = "failed" if r.error else r.status
            pushed = ("no-op" if r.push_noop else "pushed") if r.pushed else ""
            table.add_row(r.service, status, pushed, r.version, (r.digest or r.image_id or "")[:19],
                          f"{r.duration:.1f}s", r.reason)  # fmt: skip
        console.print(table)
        for r in report.failed:
            console.print(f"\n{r.service} failed: {r.reason}", style="bold red", markup=False)
            for line in r.log_tail[-15:]:
                console.print(f"  | {line}", markup=False)
        if report.results:
            common = [t for t in report.results[0].tags if not t.startswith("inputs-")]
            console.print(
                f"\ntags: {', '.join(common)} (+ inputs-<digest> per service)", markup=False, style="dim"
            )

    return human


def _finish(out: Output, report: BuildReport) -> None:
    from coursectl.errors import ExternalError

    ids = [r.digest or r.image_id or r.service for r in report.results]
    out.result(report.to_dict(), human=_render(report), ids=ids)  # type: ignore[arg-type]
    if report.failed:
        names = ", ".join(r.service for r in report.failed)
        raise ExternalError(f"{len(report.failed)} of {len(report.results)} failed: {names}",
                            details={"failed": [r.service for r in report.failed]})  # fmt: skip


def build(
    ctx: typer.Context,
    services: ServicesArg = None,
    push: Annotated[
        bool, typer.Option("--push", help="Push every tag after building, and record the digest.")
    ] = False,
    changed_only: Annotated[
        bool, typer.Option("--changed-only", help="Skip services whose inputs were already pushed (reported).")
    ] = False,
    parallel: ParallelOption = None,
    tag: TagOption = None,
    dry_run: DryRunOption = False,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Build service images (several at once), tag them by policy, and with --push push them."""
    state = state_of(ctx)
    out = state.out(output)
    svc = _service(state, env)
    names = svc.select(services or [])
    with _progress(out, names) as progress:
        report = svc.build(names, push=push, changed_only=changed_only, parallel=parallel, dry_run=dry_run,
                           extra_tags=tag or [], progress=progress)  # fmt: skip
    _finish(out, report)


def push(
    ctx: typer.Context,
    services: ServicesArg = None,
    parallel: ParallelOption = None,
    tag: TagOption = None,
    dry_run: DryRunOption = False,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Push the images built for the current commit: every tag; what the registry has is a no-op."""
    state = state_of(ctx)
    out = state.out(output)
    svc = _service(state, env)
    names = svc.select(services or [])
    with _progress(out, names) as progress:
        report = svc.push(names, parallel=parallel, dry_run=dry_run, extra_tags=tag or [], progress=progress)
    _finish(out, report)


def images(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The service whose images to list.")],
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """List a service's images in the registry: tags, digests, push times, and which environment runs which."""
    state = state_of(ctx)
    out = state.out(output)
    svc = _service(state, env)
    rows = svc.images(service, [env] if env else None)
    data = {"service": service, "images": [r.to_dict() for r in rows]}

    def human(console: Console) -> None:
        from rich.table import Table

        if not rows:
            console.print(f"no images of {service} in the registry", markup=False)
            return
        table = Table(box=None, pad_edge=False)
        for column in ("digest", "version", "pushed (UTC)", "runs in", "tags"):
            table.add_column(column)
        for r in rows:
            when = (r.pushed_at or r.created or "")[:19].replace("T", " ")
            table.add_row(r.digest[:19], r.version or "", when, ", ".join(r.environments), ", ".join(r.tags))
        console.print(table)

    out.result(data, human=human, ids=[r.digest for r in rows])
