"""Retire the old colour a release kept warm: once the release is good, each blue-green service's old slot.

A release rolls its blue-green services out with ``keep_old_warm``: each rollout ends at its promotion and the
old colour keeps running, unrouted. While the release runs, rolling a service back is one switch to that warm
slot; once the release is good, ``retire_warm`` stops it — no sooner than the environment's
``scale_down_delay`` after its promotion, as a lone rollout would. The slot is retired only if it is still what
the release left: unrouted and running the version it replaced. Anything else (a deploy or rollback since) is
left alone.
"""

from __future__ import annotations

import time

from coursectl.api.rollout.context import ROLLOUT, RolloutContext
from coursectl.api.rollout.locking import acquire, lock_reason
from coursectl.api.rollout.slots import live_state
from coursectl.domain import LedgerEvent

LOCK_WAIT = 60.0  # a deploy or rollback of the service running meanwhile: wait for it, then look again


def retire_warm(
    ctx: RolloutContext,
    service: str,
    *,
    slot: str,
    version: str | None,
    not_before: float = 0.0,
    release_id: str | None = None,
) -> str:
    """Stop ``service``'s warm ``slot`` once the wall clock passes ``not_before`` (epoch seconds); what was done:
    ``retired``, or ``left`` with why (it serves traffic, runs another version, or is gone)."""
    wait = not_before - time.time()
    if wait > 0:
        time.sleep(wait)
    lock = acquire(ctx, service, lock_reason("retire", service, version or "", "-"), wait=LOCK_WAIT)
    try:
        weights, running = live_state(ctx, service, ROLLOUT)
        current = running.get(slot)
        if current is None:
            return "left: it no longer runs"
        if weights.get(slot, 0) > 0:
            return f"left: it serves {weights[slot]}% of the traffic"
        if version is not None and current.version != version:
            return f"left: it runs {current.version}, not {version}"
        rig = ctx.rig(ROLLOUT)
        rig.router.remove(service, slot)
        rig.target.retire(service, slot)
        ctx.ledger.record(
            LedgerEvent(
                kind="rollout.retire",
                actor=ctx.actor,
                environment=ctx.env_name,
                service=service,
                version=current.version,
                outcome="retired",
                details={"slot": slot, "release_id": release_id},
            )
        )
        return "retired"
    finally:
        ctx.ledger.release_lock(lock)
