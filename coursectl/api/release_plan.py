"""The release entity's life around its waves: settings, the plan (and dry run), the load step, resume, abort."""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coursectl.api.release_run import ReleaseRunner, Watch, abort_release, warm_slot
from coursectl.errors import ExternalTimeout, LockHeld, PreconditionError
from coursectl.rollout import steps as st
from coursectl.rollout.release_state import ReleaseState, ReleaseStore, ServiceEntry, new_id, stamp
from coursectl.rollout.waves import plan_waves, worst_case_release, worst_case_steps

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


@dataclass(frozen=True)
class ReleaseSettings:
    """The release settings of the selected environment (its own over the top-level ``release``)."""

    order: list[list[str]]
    depends_on: dict[str, list[str]]
    parallel: int
    on_failure: str
    load: Any  # LoadStepConfig | None
    keep_old_warm: bool = True


def settings(ctx: Any) -> ReleaseSettings:
    config, env = ctx.config, ctx.env
    own = env.release
    on_failure = own.on_failure or config.release.on_failure or ("rollback-all" if env.protected else "keep")
    return ReleaseSettings(
        order=[list(g) for g in config.release.order],
        depends_on={name: list(s.depends_on) for name, s in config.services.items()},
        parallel=own.parallel or config.release.parallel,
        on_failure=on_failure,
        load=own.load,
        keep_old_warm=own.keep_old_warm if own.keep_old_warm is not None else config.release.keep_old_warm,
    )


def waves_for(ctx: Any, selected: Sequence[str]) -> list[list[str]]:
    s = settings(ctx)
    return plan_waves(list(ctx.config.services), selected, order=s.order, depends_on=s.depends_on)


def given_version(ctx: Any, names: Sequence[str], version: str) -> list[dict[str, Any]]:
    """Rows like the build stage's for ``version`` of every service, built and pushed before (its digest from
    the ledger's push records when there is one)."""
    from coursectl.render.tags import validate_tag

    validate_tag(version)
    rows = []
    for name in names:
        digest = None
        for event in ctx.ledger.events(service=name, kinds=["push"], limit=200):
            if event.version == version and event.outcome == "succeeded" and event.details.get("digest"):
                digest = str(event.details["digest"])
                break
        rows.append({"service": name, "status": "given", "version": version, "digest": digest, "error": None})
    return rows


def _refuse_running(ctx: Any) -> None:
    active = ReleaseStore(ctx.ledger).active(ctx.env_name)
    if active is None:
        return
    if active.owner_alive():
        raise LockHeld(
            f"release {active.id} is running in {ctx.env_name} (pid {active.pid} on {active.host})",
            hint=f"wait for it, or see coursectl release status --env {ctx.env_name}",
            details={"release_id": active.id},
        )
    raise PreconditionError(
        f"release {active.id} in {ctx.env_name} was interrupted ({active.phase})",
        hint=f"coursectl release resume --env {ctx.env_name} (carry on) or coursectl release abort --env"
        f" {ctx.env_name} (undo it)",
        details={"release_id": active.id},
    )


def new_release(
    ctx: Any,
    names: Sequence[str],
    artifacts: Mapping[str, Mapping[str, Any]],
    live: Mapping[str, str | None],
    *,
    set_env: Mapping[str, str],
) -> ReleaseState:
    """The release entity: services whose release differs from what runs, placed in waves; the others
    recorded as unchanged."""
    from coursectl.api import rollout as api

    _refuse_running(ctx)
    s = settings(ctx)
    changed = []
    for name in names:
        art = artifacts[name]
        if not api.is_live(ctx, name, version=art["version"], digest=art.get("digest"), set_env=dict(set_env)):
            changed.append(name)
    waves = waves_for(ctx, changed)
    wave_of = {name: i for i, wave in enumerate(waves) for name in wave}
    entries = {
        name: ServiceEntry(
            service=name,
            wave=wave_of.get(name, -1),
            version=str(artifacts[name]["version"]),
            digest=artifacts[name].get("digest"),
            from_version=live.get(name),
            state="pending" if name in wave_of else "unchanged",
        )
        for name in names
    }
    return ReleaseState(
        id=new_id(),
        environment=ctx.env_name,
        actor=ctx.actor,
        waves=waves,
        services=entries,
        on_failure=s.on_failure,
        parallel=s.parallel,
        set_env=dict(set_env),
        keep_old_warm=s.keep_old_warm,
    )


def load_stage(ctx: Any, runner: ReleaseRunner, edge_url: str | None, report: Any, progress: Progress) -> None:
    """The environment's ``release.load`` step: a bounded load through the edge, judged; a breach fails the
    release (rolled back with rollback-all)."""
    from coursectl.api.loadtest import DEFAULT_PATHS, Thresholds, judge, run_load
    from coursectl.api.release import ReleaseStage

    if runner.abort_requested(every=0):
        runner.settle()  # rolls back and raises
    load = settings(ctx).load
    if load is None:
        return
    if not edge_url or not runner.rel.waves:
        why = "no edge URL" if not edge_url else "nothing was rolled out"
        report.stages.append(ReleaseStage("load", "skipped", why))
        return
    progress(f"load: {load.rps:g} requests/s for {load.duration:g} s through {edge_url}")
    result = run_load(
        edge_url, rps=load.rps, duration=load.duration, connections=load.connections,
        paths=tuple(load.paths or DEFAULT_PATHS),
    )  # fmt: skip
    checks = judge(result, Thresholds(load.p95_max, load.error_rate_max, load.min_rate_ratio))
    data = dict(
        result.to_dict(), checks=[{"name": n, "value": v, "limit": lim, "ok": ok} for n, v, lim, ok in checks]
    )
    runner.rel.load = data
    breached = [f"{n} {v if v is not None else 'no data'} (limit {lim:g})" for n, v, lim, ok in checks if not ok]
    line = f"{result.sent} requests, {result.failed} failed, {result.achieved_rps:.1f}/s of {load.rps:g}/s"
    report.stages.append(ReleaseStage("load", "failed" if breached else "ok", "; ".join(breached) or line, data))
    runner.save()
    if breached:
        runner.settle(reason="load test breached: " + "; ".join(breached))


def finish(runner: ReleaseRunner, report: Any) -> None:
    """The release is good (or its journey failed): recorded as finished."""
    rel = runner.rel
    if rel.phase != "rolling-out":
        return
    if runner.abort_requested(every=0):
        runner.settle()  # rolls back and raises
    failed = [s for s in report.stages if s.status == "failed"]
    runner.retire_warm()
    rel.phase = "failed" if failed else "succeeded"
    rel.finished_at = stamp()
    runner.save(f"{failed[0].name}: {failed[0].detail}" if failed else "every service on its new version")


# dry run ---------------------------------------------------------------------------------------------------


def dry_run(
    ctx: Any, names: Sequence[str], versions: Mapping[str, str], *, set_env: Mapping[str, str]
) -> dict[str, Any]:
    """What a release would do, from the live state, changing nothing: waves, each service's strategy and
    steps, the worst-case duration."""
    from coursectl.api import rollout as api

    s = settings(ctx)
    plans = {}
    for name in names:
        plans[name] = api.plan_deploy(
            ctx, name, version=versions[name], set_env=dict(set_env), read_only=True, keep_old_warm=s.keep_old_warm
        )
    status = api.status(ctx, list(names))
    live = {row["name"]: row["version"] for row in status["services"]}
    changed = [n for n in names if not (live.get(n) == versions[n] and not set_env)]
    waves = waves_for(ctx, changed)
    durations = {}
    for n in changed:
        steps = plans[n].steps
        analysed = any(
            isinstance(step, st.Pause) and step.analyze for step in steps
        )  # one analysis window may end past a pause
        durations[n] = worst_case_steps(steps, ready_timeout=ctx.env.ready_timeout) + (
            ctx.config.analysis.interval if analysed else 0.0
        )
    total = worst_case_release(waves, durations, s.parallel)
    warm = [n for n in changed if warm_slot(plans[n])]
    if warm:  # the old colours are retired once the release is good, scale_down_delay after the last promotion
        total += ctx.env.scale_down_delay + ctx.env.ready_timeout
    if s.load is not None:
        total += s.load.duration + 5.0
    return {
        "dry_run": True,
        "environment": ctx.env_name,
        "parallel": s.parallel,
        "on_failure": s.on_failure,
        "waves": [
            [
                {
                    "service": n,
                    "from_version": live.get(n),
                    "version": versions[n],
                    "strategy": plans[n].strategy,
                    "steps": [st.describe(step) for step in plans[n].steps],
                    "worst_case_s": None if math.isinf(durations[n]) else round(durations[n], 1),
                }
                for n in wave
            ]
            for wave in waves
        ],
        "unchanged": [n for n in names if n not in changed],
        "then": [f"retire the old colour {warm_slot(plans[n])} of {n}" for n in warm],
        "load": s.load.model_dump() if s.load is not None else None,
        "worst_case_s": None if math.isinf(total) else round(total, 1),
    }


# resume, abort, status ---------------------------------------------------------------------------------------


def _interrupted(ctx: Any) -> ReleaseState:
    store = ReleaseStore(ctx.ledger)
    rel = store.active(ctx.env_name)
    if rel is None:
        latest = store.latest(ctx.env_name)
        raise PreconditionError(
            f"no release is in progress in {ctx.env_name}"
            + (f" (the latest, {latest.id}, {latest.phase})" if latest else ""),
            hint=f"coursectl release status --env {ctx.env_name}",
        )
    if rel.owner_alive() and rel.pid != os.getpid():
        raise LockHeld(
            f"release {rel.id} is running in {ctx.env_name} (pid {rel.pid} on {rel.host})",
            hint="it is not interrupted: wait for it, or stop that process first",
            details={"release_id": rel.id},
        )
    rel.pid, rel.host = os.getpid(), socket.gethostname()
    return rel


def resume_release(ctx: Any, *, progress: Progress = _quiet, watch: Watch | None = None) -> ReleaseState:
    """Carry on an interrupted release from the ledger: rollouts left in flight are resumed, the waves not run
    yet are run, a rollback left half-way is finished. Raises like ``release`` (7 rolled back, 6 paused)."""
    from coursectl.api import rollout as api
    from coursectl.api.release import ReleaseReport

    rel = _interrupted(ctx)
    progress(f"resuming release {rel.id} ({rel.phase})")
    runner = ReleaseRunner(ctx, rel, progress=progress, watch=watch)
    runner.reconcile()
    if rel.phase in ("rolling-back", "aborting"):
        final = "rolled-back" if rel.phase == "rolling-back" else "aborted"
        runner.undo(rel.message or f"resumed by {ctx.actor}", final=final)
        if final == "rolled-back":
            from coursectl.errors import RolloutFailed

            raise RolloutFailed(f"release {rel.id} {rel.phase}: {rel.message}", details={"release_id": rel.id})
        return rel
    rel.phase = "rolling-out"
    runner.run()
    report = ReleaseReport(ctx.env_name)
    load_stage(ctx, runner, api.status(ctx)["edge_url"], report, progress)
    finish(runner, report)
    return rel


ABORT_WAIT = 900.0  # seconds ``release abort`` waits for a running release to roll itself back


def abort(
    ctx: Any, *, progress: Progress = _quiet, watch: Watch | None = None, wait: float = ABORT_WAIT
) -> ReleaseState:
    """Undo a release: one that is running (in another process, on any host sharing the ledger) is asked to
    abort and waited for — it aborts its rollouts in flight and rolls back what it promoted; an interrupted one
    (killed, or paused) is undone here: rollouts in flight aborted, promoted services rolled back (last wave
    first)."""
    store = ReleaseStore(ctx.ledger)
    running = store.active(ctx.env_name)
    if running is not None and running.phase != "paused" and running.owner_alive() and running.pid != os.getpid():
        finished = _abort_running(ctx, store, running, progress=progress, watch=watch, wait=wait)
        if finished is not None:
            return finished
    rel = _interrupted(ctx)
    progress(f"aborting release {rel.id} ({rel.phase})")
    return abort_release(ctx, rel, progress=progress, watch=watch)


def _abort_running(
    ctx: Any, store: ReleaseStore, rel: ReleaseState, *, progress: Progress, watch: Watch | None, wait: float
) -> ReleaseState | None:
    """Ask the process running ``rel`` to abort and follow it to the end; None when that process died first
    (the caller undoes the release itself)."""
    store.request(rel, "abort", ctx.actor)
    progress(f"release {rel.id} is running (pid {rel.pid} on {rel.host}): abort requested, waiting for it")
    deadline = time.monotonic() + wait
    seen = rel.updated_at
    while time.monotonic() < deadline:
        current = store.load(rel.id, ctx.env_name) or rel
        if current.updated_at != seen:
            seen = current.updated_at
            if watch is not None:
                watch(current)
        if not current.active:
            if current.phase != "aborted":
                raise PreconditionError(
                    f"release {rel.id} finished {current.phase} before it saw the abort",
                    hint=f"coursectl rollback SERVICE --env {ctx.env_name} undoes one service",
                    details={"release_id": rel.id, "phase": current.phase},
                )
            return current
        if not current.owner_alive():
            progress(f"release {rel.id}: its process ended before it finished: undoing it here")
            return None
        time.sleep(0.3)
    raise ExternalTimeout(
        f"release {rel.id} was asked to abort but is still {rel.phase} after {wait:g} s",
        hint=f"coursectl release status --env {ctx.env_name}; run release abort again to keep waiting",
        details={"release_id": rel.id},
    )


def status(ctx: Any, release_id: str | None = None) -> ReleaseState:
    store = ReleaseStore(ctx.ledger)
    rel = store.load(release_id, ctx.env_name) if release_id else store.latest(ctx.env_name)
    if rel is None:
        what = f"release {release_id}" if release_id else "no release"
        raise PreconditionError(
            f"{what} is recorded in {ctx.env_name}", hint=f"coursectl release list --env {ctx.env_name}"
        )
    return rel


def recent(ctx: Any, limit: int = 20) -> list[ReleaseState]:
    return ReleaseStore(ctx.ledger).recent(ctx.env_name, limit)
