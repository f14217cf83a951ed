"""`coursectl release`: build → scan → push → roll out in waves → load → journey smoke; resume, abort, status."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from coursectl.cli._app import confirm_or_fail, state_of
from coursectl.cli._options import DryRunOption, EnvOption, OutputOption, YesOption

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.cli._output import Output
    from coursectl.rollout.release_state import ReleaseState

ACTIONS = ("resume", "abort", "status", "list")


def register(app: typer.Typer) -> None:
    app.command("release")(release)


def release(
    ctx: typer.Context,
    services: Annotated[
        list[str] | None,
        typer.Argument(
            help="Only these services (default: all); or resume | abort | status [ID] | list (an interrupted or"
            " recorded release)."
        ),
    ] = None,
    env: EnvOption = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Release this version of every service, built and pushed before (no build)."
        ),
    ] = None,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    set_env: Annotated[
        list[str] | None,
        typer.Option("--set-env", metavar="KEY=VALUE", help="Extra environment for every service rolled out."),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Release the platform to an environment: changed services are built, scanned, pushed and rolled out in
    waves with the environment's strategy (release.order / depends_on; release.parallel at a time within a
    wave), the environment's load test runs, then the user journey through the edge. With release.on_failure:
    rollback-all (the default of protected environments) a failed service aborts the rest of its wave and rolls
    every service already promoted back, the last wave first. Exit 7 when a rollout failed (rolled back or
    kept), 6 when a gate (scan, load test, journey) blocked it or a rollout stopped paused for a human, 8 when
    another release runs. `release resume|abort` carries on or undoes a release that was killed (`abort` also stops
    one running elsewhere and waits for it to roll back);
    `release status [ID]` and `release list` show recorded ones."""
    from coursectl.cli._rollout_common import context
    from coursectl.errors import UsageError

    state = state_of(ctx)
    out = state.out(output)
    names = list(services or [])
    if names and names[0] in ACTIONS:
        action, rest = names[0], names[1:]
        if version or set_env or dry_run:
            raise UsageError(f"release {action} takes no --version, --set-env or --dry-run")
        if (action != "status" and rest) or len(rest) > 1:
            raise UsageError(f"release {action}: unexpected arguments {' '.join(rest)}")
        rctx = context(state, env, out, read_only=action in ("status", "list"))
        if action in ("status", "list"):
            _show(out, rctx, action, rest[0] if rest else None)
            return
        if action == "abort" and rctx.env.protected:
            confirm_or_fail(out, f"abort the release in progress in {rctx.env_name}?", yes=yes)
        _act(out, rctx, action)
        return
    if version is not None:
        from coursectl.render.tags import validate_tag

        validate_tag(version)
    from coursectl.render.tags import parse_env_pairs

    extra_env = parse_env_pairs(set_env or [])
    rctx = context(state, env, out, read_only=dry_run)
    for name in names:
        rctx.service(name)  # exit 2 for an unknown service, before anything is read or changed
    if dry_run:
        _dry_run(out, rctx, names or sorted(rctx.config.services), version, extra_env)
        return
    if rctx.env.protected:
        confirm_or_fail(out, f"release to {rctx.env_name}?", yes=yes)
    _run(out, rctx, names, version, extra_env)


def _run(out: Output, rctx: Any, names: list[str], version: str | None, extra_env: dict[str, str]) -> None:
    from coursectl.api.release import release as run_release
    from coursectl.cli._rollout_common import render_status
    from coursectl.errors import GateBlocked

    with LiveView(out) as view:
        report = run_release(
            rctx, names, progress=view.progress, set_env=extra_env, version=version, watch=view.update
        )

    def human(console: Console) -> None:
        for stage in report.stages:
            console.print(f"{stage.name:<11} {stage.status:<8} {stage.detail}", markup=False)
        for d in report.deployed:
            wave = f"wave {d['wave']}" if d.get("wave") else "       "
            console.print(f"  {d['service']:<13} {wave} {d['version']} {d['phase']}", markup=False)
        for name, entry in report.sbom.items():  # what each release changes in its dependencies
            console.print(f"  {name:<13} dependencies: {entry.get('dependencies', entry.get('status', ''))}",
                          markup=False)  # fmt: skip
        rel = f" (release {report.release.id})" if report.release else ""
        console.print(f"released to {report.environment} in {report.duration:.0f} s{rel}", markup=False)
        if report.status and "services" in report.status:
            render_status(report.status)(console)

    out.result(report.to_dict(), human=human, ids=[f"{d['service']}={d['version']}" for d in report.deployed])
    failed = [s for s in report.stages if s.status == "failed"]
    if failed:
        raise GateBlocked(f"release {failed[0].name} failed: {failed[0].detail}")


def _dry_run(out: Output, rctx: Any, names: list[str], version: str | None, extra_env: dict[str, str]) -> None:
    from coursectl.api.release_plan import dry_run

    versions, note = _planned_versions(rctx, names, version)
    data = dry_run(rctx, names, versions, set_env=extra_env)
    if note:
        data["versions_note"] = note

    def human(console: Console) -> None:
        console.print(
            f"release to {data['environment']}: {len(data['waves'])} wave(s), {data['parallel']} at a time,"
            f" on failure: {data['on_failure']}",
            markup=False,
        )
        if note:
            console.print(f"  ({note})", markup=False)
        for i, wave in enumerate(data["waves"], 1):
            console.print(f"wave {i}:", markup=False)
            for p in wave:
                worst = f"{p['worst_case_s']:g} s" if p["worst_case_s"] is not None else "until a human resumes"
                console.print(
                    f"  {p['service']}: {p['from_version'] or '(nothing)'} → {p['version']} with {p['strategy']}"
                    f" (at most {worst})",
                    markup=False,
                )
                for n, step in enumerate(p["steps"], 1):
                    console.print(f"    {n}. {step}", markup=False)
        if data["unchanged"]:
            console.print(f"unchanged: {', '.join(data['unchanged'])}", markup=False)
        if data.get("then"):
            console.print(
                "once the release is good (a rollback meanwhile is one switch back): " + "; ".join(data["then"]),
                markup=False,
            )
        if data["load"]:
            ld = data["load"]
            console.print(
                f"load: {ld['rps']:g} requests/s for {ld['duration']:g} s; p95 ≤ {ld['p95_max']:g} s,"
                f" errors ≤ {ld['error_rate_max']:.2%}",
                markup=False,
            )
        worst = data["worst_case_s"]
        console.print(
            "worst case: " + (f"{worst:g} s" if worst is not None else "unbounded (a step waits for a human)"),
            markup=False,
        )

    out.result(data, human=human, ids=[p["service"] for wave in data["waves"] for p in wave])


def _planned_versions(rctx: Any, names: list[str], version: str | None) -> tuple[dict[str, str], str]:
    """The version each service would be released with: --version, else what a build would tag (a dry build,
    which needs the engine), else this commit (said so)."""
    if version is not None:
        return dict.fromkeys(names, version), ""
    from coursectl.errors import CoursectlError

    try:
        from coursectl.wiring import image_service

        images = image_service(rctx.loaded, state_dir=rctx.state_dir, ledger=rctx.ledger)
        built = images.build(names, push=False, changed_only=True, dry_run=True)
        return {r.service: r.version for r in built.results}, ""
    except CoursectlError as exc:
        head = rctx.head_commit()
        guess = head[:12] if head else "unknown"
        return dict.fromkeys(names, guess), f"versions not planned by a dry build ({exc.message}): {guess} assumed"


def _act(out: Output, rctx: Any, action: str) -> None:
    from coursectl.api import release_plan

    with LiveView(out) as view:
        if action == "resume":
            rel = release_plan.resume_release(rctx, progress=view.progress, watch=view.update)
        else:
            rel = release_plan.abort(rctx, progress=view.progress, watch=view.update)
    out.result(rel.summary(), human=_render(rel), ids=[rel.id])


def _show(out: Output, rctx: Any, action: str, release_id: str | None) -> None:
    from coursectl.api import release_plan

    if action == "status":
        rel = release_plan.status(rctx, release_id)
        out.result(rel.summary(), human=_render(rel), ids=[rel.id])
        return
    rows = release_plan.recent(rctx)
    data = {"environment": rctx.env_name, "releases": [r.summary() for r in rows]}

    def human(console: Console) -> None:
        if not rows:
            console.print(f"no release recorded in {rctx.env_name}", markup=False)
        for r in rows:
            count = sum(len(w) for w in r.waves)
            console.print(
                f"{r.id}  {r.started_at}  {r.phase:<12} {count} service(s) in {len(r.waves)} wave(s)  {r.actor}",
                markup=False,
            )

    out.result(data, human=human, ids=[r.id for r in rows])


def _render(rel: ReleaseState) -> Any:
    def human(console: Console) -> None:
        console.print(
            f"release {rel.id} to {rel.environment}: {rel.phase} (on failure: {rel.on_failure})", markup=False
        )
        if rel.message:
            console.print(f"  {rel.message}", markup=False)
        for i, wave in enumerate(rel.waves, 1):
            for name in wave:
                e = rel.entry(name)
                console.print(
                    f"  wave {i} {name:<13} {e.from_version or '(nothing)'} → {e.version}  {e.state}"
                    + (f" — {e.message}" if e.message else ""),
                    markup=False,
                )

    return human


class LiveView:
    """Every service of a release on one screen (rich Live), redrawn at each change — on a terminal in human
    mode only; otherwise the release's progress lines, one per change (Jenkins logs)."""

    def __init__(self, out: Output):
        from coursectl.cli._output import OutputMode

        self.out = out
        self.enabled = out.mode is OutputMode.human and sys.stdout.isatty()
        self.live: Any = None
        self.lines: list[str] = []

    def __enter__(self) -> LiveView:
        if self.enabled:
            from rich.live import Live

            self.live = Live(console=self.out.console, refresh_per_second=4, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def progress(self, message: str) -> None:
        if self.live is None:
            self.out.progress(message)
        else:
            self.lines = [*self.lines[-4:], message]

    def update(self, rel: ReleaseState) -> None:
        if self.live is not None:
            self.live.update(self._table(rel))

    def _table(self, rel: ReleaseState) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"release {rel.id} → {rel.environment}: {rel.phase}", title_justify="left")
        for col in ("wave", "service", "from", "to", "state", "step"):
            table.add_column(col)
        styles = {"promoted": "green", "rolled-back": "yellow", "failed": "red", "rollback-failed": "bold red",
                  "rolling": "cyan", "rolling-back": "yellow", "aborted": "red", "paused": "magenta"}  # fmt: skip
        for i, wave in enumerate(rel.waves, 1):
            for name in wave:
                e = rel.entry(name)
                table.add_row(
                    str(i), name, e.from_version or "-", e.version, Text(e.state, style=styles.get(e.state, "")),
                    Text(e.step or e.message),
                )  # fmt: skip
        return Group(table, *(Text(line, style="dim") for line in self.lines))
