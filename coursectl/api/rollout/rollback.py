"""Roll a service back to its previous good version (or a given one), taking over any deploy lock."""

from __future__ import annotations

from typing import Any

from coursectl.api.rollout.context import RolloutContext
from coursectl.api.rollout.deploy import image_for, in_place
from coursectl.api.rollout.locking import acquire, lock_reason
from coursectl.api.rollout.slots import live_state
from coursectl.domain import LedgerEvent, utcnow
from coursectl.errors import PreconditionError, RolloutFailed
from coursectl.rollout.engine import Engine
from coursectl.rollout.plan import live_slot, plan_rollout, plan_warm_switch
from coursectl.rollout.state import ABORTED, ABORTING, FAILED, SUCCEEDED, RolloutState


def _last_good(ctx: RolloutContext, service: str, not_version: str | None) -> LedgerEvent | None:
    for event in ctx.ledger.events(
        service=service, environment=ctx.env_name, kinds=["deployment", "rollback"], limit=500
    ):
        if event.outcome == "succeeded" and event.version != not_version:
            return event
    return None


def _rollback_precheck(ctx: RolloutContext, service: str, to_version: str | None) -> None:
    """The reasons a rollback would not act, raised before any lock is touched: an unsupported target, nothing
    recorded to go back to, the version already live."""
    ctx.rig()
    active = ctx.store.active(ctx.env_name, service)
    if active is not None and active.stable_slot is not None and to_version in (None, active.stable_version):
        return  # the rollout in flight is aborted
    weights, running = live_state(ctx, service, read_only=True)
    live = live_slot(weights, sorted(running))
    live_version = running[live].version if live else None
    if to_version is None:
        good = _last_good(ctx, service, live_version)
        if good is None:
            raise PreconditionError(
                f"no earlier good version of {service} is recorded in {ctx.env_name}",
                hint="give one with --to VERSION",
            )
        to_version = str(good.version)
    if to_version == live_version:
        raise PreconditionError(f"{service} {to_version} is already live", hint="nothing to roll back")


def rollback(ctx: RolloutContext, service: str, *, to_version: str | None = None) -> RolloutState:
    """Back to the previous good version (or ``to_version``): a warm slot is switched to at once, else the
    recorded image is redeployed without analysis. Takes over the deploy lock (a stuck rollout's, or anyone's)
    only once it is clear the rollback will act; whose it was is recorded and left in ``ctx.taken_over``."""
    from coursectl.api import finisher  # returns at the switch; the retire goes to a detached finisher

    ctx.service(service)
    finisher.settle(ctx, service)
    _rollback_precheck(ctx, service, to_version)
    held = ctx.ledger.lock_info(ctx.env_name, service)
    lock = acquire(ctx, service, lock_reason("rollback", service, to_version or "previous", "-"), take_over=True)
    if held is not None and held.token != lock.token:
        ctx.taken_over = held
    try:
        active = ctx.store.active(ctx.env_name, service)
        if (
            active is not None
            and (to_version is None or to_version == active.stable_version)
            and active.stable_slot is not None
        ):
            # a rollout in flight: its own way back (abort) is the fastest and exact
            started = _stamp()

            def abort(engine: Engine) -> None:
                if active.phase != ABORTING:
                    engine.begin_abort(active, f"rolled back by {ctx.actor}", actor=ctx.actor)

            outcome: list[str] = []

            def record(final: RolloutState) -> None:  # once traffic is back on stable (before any hand-over)
                outcome.append("succeeded" if final.phase == ABORTED or finisher.handed_off(final) else "failed")
                _record_rollback(
                    ctx,
                    final,
                    from_version=final.version,
                    to_version=final.stable_version,
                    started=started,
                    status=outcome[0],
                )

            final = finisher.run_then_hand_off(ctx, active, lock, before=abort, on_switched=record)
            if not outcome:
                record(final)
            if outcome[0] != "succeeded":
                raise RolloutFailed(f"rollback of {service} did not finish: {final.phase}: {final.message}")
            return final
        if active is not None:
            active.phase, active.message = FAILED, f"superseded by a rollback to {to_version} by {ctx.actor}"
            active.finished_at = _stamp()
            ctx.store.save(active)
            if ctx.on_change:  # observers (notifications) see this end too
                ctx.on_change(active)
            ctx.store.event(
                "deployment",
                active,
                outcome="rolled_back",
                git_commit=active.git_commit,
                started_at=active.started_at,
                finished_at=active.finished_at,
                status="rolled_back",
                hotfix=active.hotfix,
                digest=active.digest,
                strategy=active.strategy,
                source="coursectl",
                message=active.message,
            )
        weights, running = live_state(ctx, service)
        live = live_slot(weights, sorted(running))
        live_version = running[live].version if live else None
        good = None
        if to_version is None:
            good = _last_good(ctx, service, live_version)
            if good is None:
                raise PreconditionError(
                    f"no earlier good version of {service} is recorded in {ctx.env_name}",
                    hint="give one with --to VERSION",
                )
            to_version = str(good.version)
        if to_version == live_version:
            raise PreconditionError(f"{service} {to_version} is already live", hint="nothing to roll back")
        digest = (good.details.get("digest") if good else None) or _digest_of(ctx, service, to_version)
        warm = [s for s in running.values() if s.slot != live and s.version == to_version]
        common: dict[str, Any] = dict(
            actor=ctx.actor,
            reason="rollback",
            from_version=live_version,
            digest=digest,
            image=image_for(ctx.config, service, to_version),
            stable_version=live_version,
        )
        if warm and live:
            state = plan_warm_switch(
                environment=ctx.env_name,
                service=service,
                strategy=ctx.env.strategy,
                to_slot=warm[0].slot,
                from_slot=live,
                version=to_version,
                **common,
            )
        else:
            state = plan_rollout(
                environment=ctx.env_name,
                service=service,
                version=to_version,
                strategy=ctx.env.strategy,
                weights=weights,
                running=running,
                kind="rollback",
                analyze=False,
                in_place=in_place(ctx, ctx.env.strategy),
                scale_down_delay=0.0,
                post_analysis=None,
                **{k: v for k, v in common.items() if k != "stable_version"},
            )
            state.from_version = live_version
        ctx.store.save(state)
    except BaseException:
        ctx.ledger.release_lock(lock)
        raise
    return _finish_rollback(finisher.run_then_hand_off(ctx, state, lock))


def _stamp() -> str:
    return utcnow().isoformat().replace("+00:00", "Z")


def _record_rollback(
    ctx: RolloutContext,
    state: RolloutState,
    *,
    from_version: str | None,
    to_version: str | None,
    started: str,
    status: str,
) -> None:
    ctx.store.event(
        "rollback",
        state,
        actor=ctx.actor,
        outcome=status,
        version=to_version,
        from_version=from_version,
        to_version=to_version,
        started_at=started,
        finished_at=_stamp(),
        status=status,
        strategy=state.strategy,
    )


def _digest_of(ctx: RolloutContext, service: str, version: str) -> str | None:
    for event in ctx.ledger.events(service=service, kinds=["push", "deployment"], limit=500):
        if event.version == version and event.details.get("digest"):
            return str(event.details["digest"])
    return None


def _finish_rollback(state: RolloutState) -> RolloutState:
    from coursectl.api.finisher import handed_off

    if state.phase not in (SUCCEEDED, ABORTED) and not handed_off(state):
        raise RolloutFailed(
            f"rollback of {state.service} did not finish: {state.phase}: {state.message}",
            details={"rollout_id": state.id},
        )
    return state
