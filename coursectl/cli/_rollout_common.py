"""Helpers shared by the deploy, rollout, rollback and status commands: context, progress and rendering.

The context is built here, with the adapters of ``coursectl.wiring``: the use cases never build their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coursectl.render.printable import printable

if TYPE_CHECKING:
    from rich.console import Console

    from coursectl.api.rollout import RolloutContext
    from coursectl.cli._app import AppState
    from coursectl.cli._output import Output, OutputMode
    from coursectl.rollout.state import RolloutState


def context(
    state: AppState, env: str | None, out: Output | None = None, *, read_only: bool = False
) -> RolloutContext:
    """The use cases' context. ``read_only`` (a dry run): a ledger that does not exist yet is not created (an
    empty one in memory stands in)."""
    from coursectl.wiring import rollout_context

    loaded = state.config(env)
    _ = loaded.environment  # exit 3 when no environment is selected
    if read_only and not (state.state_dir() / "ledger.db").exists():
        from coursectl.ledger import SqliteLedger

        ledger = SqliteLedger.in_memory()
    else:
        ledger = state.ledger()
    ctx = rollout_context(loaded, ledger, state.state_dir(), kubeconfig=state.kubeconfig, read_only=read_only)
    if out is not None and read_only:  # a dry run announces nothing (and opens no ledger to record deliveries)
        ctx.on_change = progress_printer(out)
    elif out is not None:
        from coursectl.wiring import rollout_watcher

        printer = progress_printer(out)
        watcher = rollout_watcher(loaded.config, state.notifications())

        def on_change(rollout: RolloutState) -> None:
            printer(rollout)
            watcher(rollout)

        ctx.on_change = on_change
    return ctx


def show_status(
    state: AppState, services: list[str] | None, *, env: str | None, output: OutputMode | None
) -> None:
    """``coursectl status``: what runs where, printed in the command's output mode (the body of the Typer command
    and of its parser-free path, coursectl/cli/_fast.py)."""
    from coursectl.api import rollout as api

    out = state.out(output)
    data = api.status(context(state, env), services)
    out.result(data, human=render_status(data), ids=[f"{s['name']}={s['version']}" for s in data["services"]])


def progress_printer(out: Output) -> Any:
    """A step line on stderr each time a rollout moves to another step or phase, and one line per analysis
    round with every metric: value, threshold, verdict and the number of user requests it is based on."""
    from coursectl.rollout import steps as st

    seen: dict[str, tuple[int, str, int]] = {}

    def show(rollout: RolloutState) -> None:
        key = (rollout.step_index, rollout.phase, len(rollout.measurements))
        if seen.get(rollout.id) == key:
            return
        last = seen.get(rollout.id)
        seen[rollout.id] = key
        step = rollout.current_step
        if last and last[2] != key[2] and rollout.measurements:
            out.progress("  " + round_text(rollout.measurements))
        if last is None or last[:2] != key[:2]:
            where = f"{rollout.step_index + 1}/{len(rollout.steps)}: {st.describe(step)}" if step else "end"
            out.progress(
                f"[{rollout.service} {rollout.version}] {rollout.phase} {where}"
                + (f" — {rollout.message}" if rollout.message and rollout.phase != "progressing" else "")
            )

    return show


def round_text(measurements: list[dict[str, Any]]) -> str:
    """'analysis round 2 of canary at 20%: error-rate 0.2% ≤ 1% ok, … (240 requests in 20 s) → successful'."""
    from coursectl.rollout import analysis as an

    found = an.last_round([an.Measurement.from_dict(m) for m in measurements])
    if not found:
        return "analysis: no measurement yet"
    first = found[0]
    verdict, _ = an.round_verdict(found)
    where = f"of {first.slot}" + (f" at {first.weight}%" if first.weight is not None else "")
    number = f"round {first.round} " if first.round else ""
    return f"analysis {number}{where}: {an.round_line(found)} → {verdict}"


def summary(rollout: RolloutState) -> dict[str, Any]:
    return {
        "rollout_id": rollout.id,
        "service": rollout.service,
        "environment": rollout.environment,
        "kind": rollout.kind,
        "strategy": rollout.strategy,
        "version": rollout.version,
        "from_version": rollout.from_version or rollout.stable_version,
        "phase": rollout.phase,
        "message": rollout.message,
        "weights": rollout.weights(),
        "analysis": rollout.analysis,
        "started_at": rollout.started_at,
        "finished_at": rollout.finished_at,
    }


def render_status(data: dict[str, Any]) -> Any:
    def human(console: Console) -> None:
        from rich.table import Table

        table = Table(title=f"{data['environment']} — edge {data['edge_url']}", title_justify="left")
        for col in ("service", "version", "slots", "weights", "health", "lock / rollout"):
            table.add_column(col)
        for svc in data["services"]:
            slots = (
                ", ".join(
                    f"{s['slot']}={s['version']}"
                    + ("" if s["healthy"] else " (unhealthy)" if s["running"] else " (stopped)")
                    for s in svc["slots"]
                )
                or "-"
            )
            weights = ", ".join(f"{k} {v}%" for k, v in sorted(svc["weights"].items())) or "-"
            extra = []
            if svc["lock"]:
                extra.append(f"locked by {printable(svc['lock']['holder'])}")
            if svc["rollout"] and svc["rollout"].get("finishing"):  # a rollback's drain/retire, after the switch
                extra.append(
                    f"rolled back to {svc['rollout']['version']}; {', '.join(svc['rollout']['finishing'])}"
                    " in the background"
                )
            elif svc["rollout"]:
                extra.append(f"rollout {svc['rollout']['phase']} → {svc['rollout']['version']}")
            table.add_row(svc["name"], svc["version"] or "-", slots, weights, svc["health"], "; ".join(extra))
        console.print(table)
        for problem in data.get("problems", []):
            console.print(f"! {problem}", style="yellow", markup=False)

    return human


def render_rollout(data: dict[str, Any]) -> Any:
    def human(console: Console) -> None:
        r = data["rollout"]
        if r is None:
            console.print(f"no rollout of {data['service']} recorded in {data['environment']}", markup=False)
            return
        console.print(
            f"{data['service']} rollout {r['id']} ({r['kind']}, {r['strategy']}): "
            f"{r['from_version'] or '(nothing)'} → {r['version']} — {r['phase']}",
            markup=False,
        )
        if r["message"]:
            console.print(f"  {r['message']}", markup=False)
        console.print(
            f"  step {min(r['step'] + 1, r['steps'])}/{r['steps']}: {r['current_step'] or 'done'}", markup=False
        )
        console.print("  weights: " + ", ".join(f"{k} {v}%" for k, v in r["weights"].items()), markup=False)
        a = r["analysis"]
        if a:
            no_traffic = f" ({a['no_traffic']} without enough traffic)" if a.get("no_traffic") else ""
            console.print(
                f"  analysis: {a.get('successful', 0)} ok, {a.get('failed', 0)} failed, "
                f"{a.get('errors', 0)} errors, {a.get('inconclusive', 0)} inconclusive{no_traffic}",
                markup=False,
            )
        if r.get("last_round"):
            console.print(f"  last round: {r['last_round']['line']}", markup=False)
        for m in r["measurements"]:
            console.print(f"    {m['at']} {m['metric']} {m['slot']}: {m['verdict']} — {m['reason']}", markup=False)
        if data.get("lock"):
            console.print(
                f"  lock: {printable(data['lock']['holder'])}"
                f" ({'alive' if data['lock']['alive'] else 'abandoned'})",
                markup=False,
            )

    return human
