"""Operator requests on a running rollout: promote, promote --full, pause, resume, abort — from any process."""

from __future__ import annotations

import time
from collections.abc import Callable

from coursectl.api.rollout.context import RolloutContext
from coursectl.api.rollout.locking import acquire, holder_alive, lock_reason, run_locked
from coursectl.errors import LockHeld, PreconditionError
from coursectl.rollout import steps as st
from coursectl.rollout.analysis import Tally
from coursectl.rollout.engine import Engine
from coursectl.rollout.state import ABORTED, ABORTING, FAILED, PAUSED, PROGRESSING, RolloutState


def _current(ctx: RolloutContext, service: str) -> RolloutState:
    state = ctx.store.active(ctx.env_name, service)
    if state is None:
        raise PreconditionError(
            f"no rollout of {service} is in progress in {ctx.env_name}",
            hint=f"coursectl rollout status {service} --env {ctx.env_name}",
        )
    return state


def _wait_for(
    ctx: RolloutContext, rollout_id: str, done: Callable[[RolloutState], bool], timeout: float
) -> RolloutState:
    deadline = time.monotonic() + timeout
    while True:
        state = ctx.store.load(rollout_id)
        assert state is not None
        if done(state) or time.monotonic() >= deadline:
            return state
        time.sleep(0.2)


def request(ctx: RolloutContext, service: str, what: str, *, wait: float = 120.0) -> RolloutState:
    """promote | promote-full | pause | resume | abort the rollout of ``service``, from any process.

    When a live process runs the rollout the request is handed to it (and waited for); otherwise this
    process takes the lock (over an abandoned one, recorded) and acts itself.
    """
    state = _current(ctx, service)
    lock = ctx.ledger.lock_info(ctx.env_name, service)
    if lock is not None and holder_alive(lock) and state.phase != PAUSED:
        if what == "resume":
            raise LockHeld(f"the rollout of {service} is running (held by {lock.holder})", details=lock.to_dict())
        ctx.store.post_request(state.id, what, ctx.actor)
        settled = {
            "pause": lambda s: s.phase != PROGRESSING,
            "abort": lambda s: s.phase in (ABORTED, FAILED),
            "promote": lambda s: s.step_index != state.step_index or s.phase != PROGRESSING,
            "promote-full": lambda s: s.phase != PROGRESSING or ctx.store.pending_request(s.id) is None,
        }[what]
        return _wait_for(ctx, state.id, settled, wait)
    lock = acquire(
        ctx, service, lock_reason(what, service, state.version, state.id), take_over=not holder_alive(lock)
    )

    def act(engine: Engine) -> None:
        if what == "abort":
            if state.phase != ABORTING:
                engine.begin_abort(state, f"aborted by {ctx.actor}", actor=ctx.actor)
            return
        if what == "pause":
            if state.phase == PROGRESSING:
                state.move(PAUSED, f"paused by {ctx.actor}")
                ctx.store.save(state)
            return
        current = state.current_step
        if what == "promote-full":
            skip = 1 if isinstance(current, st.Pause) else 0
            state.steps, state.step_index = st.fast_promote_plan(state.steps, state.step_index + skip), 0
            ctx.store.event("rollout.promote", state, outcome="full", actor=ctx.actor, action=what)
        elif what == "promote" and isinstance(current, st.Pause):
            state.step_index += 1
            ctx.store.event("rollout.promote", state, outcome="step-skipped", actor=ctx.actor, action=what)
        if state.phase == PAUSED:
            if what in ("resume", "promote"):  # a human looked at the inconclusive rounds: they count afresh
                tally = Tally.from_dict(state.analysis)
                tally.forgive_inconclusive()
                state.analysis = tally.to_dict()
            state.move(PROGRESSING, f"{what} by {ctx.actor}")
        ctx.store.save(state)

    return run_locked(ctx, state, lock, before=act)
