"""Run a rollout's engine while holding the service's deploy lock, kept alive by a heartbeat thread."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from coursectl.api.rollout.context import ROLLOUT, RolloutContext
from coursectl.api.rollout.slots import secret_names, slot_env
from coursectl.domain import LedgerEvent, LockInfo
from coursectl.errors import CoursectlError, LockHeld, RolloutFailed
from coursectl.ports import DeployLock
from coursectl.processes import holder_alive as holder_alive  # re-exported (api.rollout.holder_alive)
from coursectl.rollout.analysis import AnalysisRules
from coursectl.rollout.engine import Engine, EngineSettings
from coursectl.rollout.state import RolloutState

log = logging.getLogger(__name__)

LOCK_TTL = 30.0
HEARTBEAT_EVERY = 5.0


def lock_reason(kind: str, service: str, version: str, rollout_id: str) -> str:
    """The reason recorded with a lock: what runs, and the process (pid, host) that holds it."""
    return f"{kind} {service} {version} rollout={rollout_id} pid={os.getpid()} host={socket.gethostname()}"


def acquire(
    ctx: RolloutContext, service: str, reason: str, *, wait: float = 0.0, take_over: bool = False
) -> LockInfo:
    """The deploy lock of ``service``; one whose process is gone is taken over (recorded with whose it was)."""
    held = ctx.ledger.lock_info(ctx.env_name, service)
    if held is not None and not take_over and not holder_alive(held):
        take_over = True
    return ctx.ledger.acquire_lock(
        ctx.env_name, service, holder=ctx.actor, reason=reason, ttl=LOCK_TTL, wait=wait, take_over=take_over
    )


class Heartbeat:
    """Keeps a deploy lock alive from a thread of its own (a slow image pull or readiness wait must not let it
    expire), on a handle of its own (``DeployLock.for_thread``); the engine calls it between steps to learn of a
    take-over.

    ``wait(seconds)`` is what the thread waits on between beats (True: stop); by default the stop event, so
    ``stop()`` ends it at once. Tests give their own, and beat with ``beat()``.
    """

    def __init__(
        self,
        locks: DeployLock,
        lock: LockInfo,
        *,
        every: float = HEARTBEAT_EVERY,
        ttl: float = LOCK_TTL,
        wait: Callable[[float], bool] | None = None,
    ):
        self.lock = lock
        self.lost: LockHeld | None = None
        self.every, self.ttl = every, ttl
        self._locks = locks
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._thread = threading.Thread(target=self._run, name="coursectl-lock-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def beat(self, locks: DeployLock | None = None) -> bool:
        """Push the lock's expiry ``ttl`` seconds ahead once; False (and ``lost`` set) once it was taken over. A
        busy ledger is only logged: the next beat tries again."""
        try:
            self.lock = (locks or self._locks).refresh_lock(self.lock, ttl=self.ttl)
        except LockHeld as exc:
            self.lost = exc
            return False
        except CoursectlError as exc:
            log.warning("lock heartbeat: %s", exc.message)
        return True

    def _run(self) -> None:
        own = self._locks.for_thread()
        try:
            while not self._wait(self.every):
                if not self.beat(own):
                    return
        finally:
            if own is not self._locks:
                own.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.every + 5)

    def __call__(self) -> None:
        """Raise LockHeld when the lock was taken over (the engine's check between steps)."""
        if self.lost is not None:
            raise self.lost


def engine_for(ctx: RolloutContext, service: str, heartbeat: Callable[[], None] | None) -> Engine:
    """The engine of ``service``'s rollouts: the rollout rig's adapters, the environment's analysis settings."""
    rig = ctx.rig(ROLLOUT)
    svc = ctx.service(service)
    settings = EngineSettings(
        rules=AnalysisRules.from_config(ctx.config.analysis, ctx.env),
        on_failure=ctx.env.on_failure,
        smoke_paths=list(svc.smoke),
        health=svc.health,
        service_env=slot_env(ctx, service),
        secret_names=secret_names(ctx, service),
        ready_timeout=ctx.env.ready_timeout,
        observe_timeout=ctx.config.analysis.observe_timeout,
        spec_label=rig.target.records_fingerprints,  # coursectl's file_sd targets carry it as the label `spec`
    )
    return Engine(
        target=rig.target,
        router=rig.router,
        store=ctx.store,
        clock=rig.clock,
        metrics=rig.metrics,
        settings=settings,
        heartbeat=heartbeat,
        on_change=ctx.on_change,
    )


def run_locked(
    ctx: RolloutContext, state: RolloutState, lock: LockInfo, before: Callable[[Engine], None] | None = None
) -> RolloutState:
    """Run ``state`` (after ``before``, an operator's action) holding ``lock``, released at the end.

    RolloutFailed when the lock is taken over meanwhile (a rollback: the rollout is theirs to finish); an
    interrupt is recorded in the ledger.
    """
    beat = Heartbeat(ctx.ledger, lock).start()
    engine = engine_for(ctx, state.service, beat)
    try:
        if before:
            before(engine)
        return engine.run(state)
    except LockHeld as exc:  # someone (a rollback) took the rollout over: it is theirs to finish
        latest = ctx.store.load(state.id)
        raise RolloutFailed(
            f"the rollout of {state.service} {state.version} was taken over: {exc.message}",
            hint=f"coursectl rollout status {state.service} --env {state.environment}",
            details={"rollout_id": state.id, "phase": latest.phase if latest else state.phase},
        ) from exc
    except KeyboardInterrupt:
        ctx.ledger.record(
            LedgerEvent(
                kind="interrupted",
                actor=ctx.actor,
                environment=state.environment,
                service=state.service,
                version=state.version,
                details={"rollout_id": state.id, "step": state.step_index, "phase": state.phase},
            )
        )
        raise
    finally:
        beat.stop()
        try:
            ctx.ledger.release_lock(beat.lock)  # False when it was taken over: nothing of ours to release
        except CoursectlError as exc:  # a busy or damaged ledger: the lock expires by itself
            log.warning("the deploy lock of %s was not released: %s", state.service, exc.message)
