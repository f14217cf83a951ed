"""A rollback returns once traffic is switched; its leftovers go to a detached finisher or the next command.

What is left after the switch of a rollback (or of the abort a rollback starts) is the old slot's drain and
retire, and the outcome record (the ``rollback`` row DORA reads, the final phase, the notification). None of it
keeps the on-call engineer waiting, and none of it is lost on Ctrl-C:

1. the switch is on record first: the engine saved the state (``promoted``, traffic weights) and its
   ``rollout.step`` / ``rollout.promote`` events before the rollback hands anything over;
2. ``run_then_hand_off`` starts ``coursectl rollout finish SERVICE --handoff ID`` in a session of its own (a
   Ctrl-C on the terminal does not reach it), names that process in the deploy lock (same holder and token: no
   take-over) and gives it the lock's token on its stdin, with SIGINT held back meanwhile; a ``rollout.step``
   event with outcome ``handed-off`` names the finisher's pid. The rollback then returns;
3. the finisher runs the leftover steps under that lock (its own heartbeat), records the outcome and unlocks.
   Its output goes to ``<state dir>/finishers/<rollout id>.log``;
4. if the finisher is killed, the state stays active with only ``retire`` steps left (``status`` and
   ``rollout status`` show it) and the next ``deploy`` or ``rollback`` of the service — or ``rollout finish``
   by hand — finishes it first (``settle``); while a finisher is alive they wait for it instead.

``COURSECTL_ROLLBACK_WAIT=1`` makes a rollback finish everything itself before it returns, as does a context
whose adapters come from a ``rig_factory`` (tests: another process could not rebuild them).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Protocol

from coursectl.errors import CoursectlError, LockHeld, RolloutFailed
from coursectl.processes import holder_alive
from coursectl.rollout import steps as st
from coursectl.rollout.state import ABORTING, RolloutState

if TYPE_CHECKING:
    from coursectl.api.rollout import RolloutContext
    from coursectl.domain import LockInfo
    from coursectl.rollout.engine import Engine

log = logging.getLogger(__name__)

LEFTOVER_KINDS = frozenset({"retire"})
WAIT_ENV = "COURSECTL_ROLLBACK_WAIT"
SETTLE_WAIT = 120.0  # seconds a later command waits for a live finisher (a container's stop timeout and more)
_STARTED: list[subprocess.Popen[bytes]] = []


class Handle(Protocol):
    """A started finisher: its pid, and the hand-over of the lock's token (None: nothing is handed over)."""

    pid: int

    def send(self, token: str | None) -> bool: ...


Spawner = Callable[["RolloutContext", RolloutState], Handle]
SPAWNER: Spawner | None = None  # tests: a finisher that is not a process (then it is used even with fakes)


# what is left --------------------------------------------------------------------------------------------


def leftovers(state: RolloutState) -> list[st.Step]:
    """The steps not yet done."""
    return list(state.steps[state.step_index :]) if state.step_index >= 0 else []


def only_leftovers(state: RolloutState) -> bool:
    """Traffic is where it should be and only retire steps are left (a promoted rollout, or an abort)."""
    rest = leftovers(state)
    return (
        state.active
        and bool(rest)
        and all(step.kind in LEFTOVER_KINDS for step in rest)
        and (state.promoted or state.phase == ABORTING)
    )


def is_leftover(state: RolloutState | None) -> bool:
    """A rollback's (or an abort's) state with nothing but its retire steps left: anyone may finish it."""
    return state is not None and only_leftovers(state) and (state.kind == "rollback" or state.phase == ABORTING)


def describe_leftovers(state: RolloutState | None) -> list[str]:
    """``["retire blue"]`` for a leftover state, ``[]`` otherwise (``status`` shows it)."""
    return [st.describe(step) for step in leftovers(state)] if state is not None and is_leftover(state) else []


def handed_off(state: RolloutState) -> bool:
    """What ``run_then_hand_off`` returned has its leftovers still to do (by the finisher, or a later command)."""
    return only_leftovers(state)


def waiting_wanted(ctx: RolloutContext, spawn: Spawner | None) -> bool:
    """COURSECTL_ROLLBACK_WAIT=1, or adapters another process could not rebuild (a rig_factory) and no spawner."""
    asked = os.environ.get(WAIT_ENV, "") not in ("", "0", "false")
    return asked or (spawn is None and ctx.rig_factory is not None)


# the rollback's side ---------------------------------------------------------------------------------------


def run_then_hand_off(
    ctx: RolloutContext,
    state: RolloutState,
    lock: LockInfo,
    *,
    before: Callable[[Engine], None] | None = None,
    on_switched: Callable[[RolloutState], None] | None = None,
    spawn: Spawner | None = None,
) -> RolloutState:
    """Run a rollback's plan (``before`` first) until only retire steps are left, then hand those to a
    finisher and return the still active state; run it to the end here when waiting is wanted or no finisher
    can be started. ``on_switched(state)`` is called before the hand-over, with the signals held back (what
    the caller records then is not lost to a Ctrl-C). The lock is released here unless it was handed over."""
    from coursectl.api.rollout import locking as ro

    spawn = spawn or SPAWNER
    wait = waiting_wanted(ctx, spawn)
    beat = ro.Heartbeat(ctx.ledger, lock).start()
    engine = ro.engine_for(ctx, state.service, beat)
    ours = True
    try:
        if before:
            before(engine)
        final = engine.run(state, hand_off=None if wait else only_leftovers)
        if final.active and only_leftovers(final) and not wait:
            # SIGINT/SIGTERM are held back until the hand-over is done and known: a Ctrl-C then ends this
            # command (exit 130), never the hand-over half-way, and the lock stays with the finisher
            with _HeldSignals():
                if on_switched is not None:
                    on_switched(final)
                handed, orphan = _hand_off(ctx, final, beat, spawn or spawn_finisher)
                ours = not handed and orphan is None
            if orphan is not None:  # the lock changed hands but its finisher is gone: finish here with it
                final = ro.run_locked(ctx, final, orphan)
            elif ours:
                final = engine.run(final)
        return final
    except LockHeld as exc:  # someone took the rollback over: it is theirs to finish
        raise RolloutFailed(
            f"the rollback of {state.service} {state.version} was taken over: {exc.message}",
            hint=f"coursectl rollout status {state.service} --env {state.environment}",
            details={"rollout_id": state.id},
        ) from exc
    except KeyboardInterrupt:
        from coursectl.domain import LedgerEvent

        ctx.ledger.record(
            LedgerEvent(
                kind="interrupted",
                actor=ctx.actor,
                environment=state.environment,
                service=state.service,
                version=state.version,
                details={
                    "rollout_id": state.id,
                    "step": state.step_index,
                    "phase": state.phase,
                    "handed_off": not ours,
                },
            )
        )
        raise
    finally:
        beat.stop()
        if ours:
            try:
                ctx.ledger.release_lock(beat.lock)
            except Exception:  # taken over: nothing of ours to release
                pass


class _HeldSignals:
    """SIGINT and SIGTERM noted instead of acted on (main thread only, where Python runs signal handlers), then
    raised again, once, with the handlers they had: what a Ctrl-C does then happens after the hand-over."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: list[int] = []
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _HeldSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.previous[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, sig: int, _frame: object) -> None:
        self.received.append(sig)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(self.received):
            signal.raise_signal(sig)


def _hand_off(ctx: RolloutContext, state: RolloutState, beat: Any, spawn: Spawner) -> tuple[bool, LockInfo | None]:
    """Start the finisher, pass it the lock (a new token, its pid in the reason), give it the token. Returns
    (handed over, the passed lock when its finisher turned out to be gone — to finish here with)."""
    try:
        handle = spawn(ctx, state)
    except (OSError, CoursectlError) as exc:
        log.warning("%s: could not start the rollback's finisher (%s): finishing here", state.service, exc)
        return False, None
    reason = (
        f"finish-rollback {state.service} {state.version} rollout={state.id} pid={handle.pid}"
        f" host={socket.gethostname()}"
    )
    try:
        passed = ctx.ledger.hand_over_lock(beat.lock, reason=reason, ttl=_lock_ttl())
    except CoursectlError as exc:
        handle.send(None)
        log.warning("%s: could not hand the deploy lock over (%s): finishing here", state.service, exc.message)
        return False, None
    if not handle.send(passed.token):
        log.warning("%s: the rollback's finisher (pid %s) is gone: finishing here", state.service, handle.pid)
        return False, passed
    ctx.store.event(
        "rollout.step",
        state,
        outcome="handed-off",
        finisher_pid=handle.pid,
        leftovers=[st.describe(step) for step in leftovers(state)],
        index=state.step_index,
    )
    return True, None


def _lock_ttl() -> float:
    from coursectl.api.rollout.locking import LOCK_TTL

    return LOCK_TTL


class _Process:
    """A finisher started as ``coursectl rollout finish SERVICE --handoff ID`` in a session of its own."""

    def __init__(self, proc: subprocess.Popen[bytes], log_file: IO[bytes]):
        self.proc = proc
        self.pid = proc.pid
        self._log = log_file

    def send(self, token: str | None) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(((token or "") + "\n").encode("ascii"))
            self.proc.stdin.close()
        except OSError:
            return False
        finally:
            self._log.close()
        _STARTED.append(self.proc)  # never waited for: it outlives this command on purpose
        return self.proc.poll() is None


def finisher_argv(ctx: RolloutContext, state: RolloutState) -> list[str]:
    argv = [sys.executable, "-m", "coursectl", "-c", str(ctx.loaded.path), "-e", ctx.env_name]
    kubeconfig = getattr(ctx.adapters, "kubeconfig", None)  # --kubeconfig given to this command, if any
    if kubeconfig:
        argv += ["--kubeconfig", str(kubeconfig)]
    return argv + ["rollout", "finish", state.service, "--handoff", state.id]


def spawn_finisher(ctx: RolloutContext, state: RolloutState) -> Handle:
    """The detached finisher process (its output in ``<state dir>/finishers/<rollout id>.log``)."""
    folder = ctx.state_dir / "finishers"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_file = open(folder / f"{state.id}.log", "ab")  # noqa: SIM115 - handed to the child, closed in send()
    env = {**os.environ, "COURSECTL_STATE_DIR": str(ctx.state_dir)}
    env.pop(WAIT_ENV, None)
    env.pop("COURSECTL_OUTPUT", None)
    try:
        proc = subprocess.Popen(
            finisher_argv(ctx, state),
            stdin=subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no Ctrl-C, no hang-up from the terminal the rollback ran in
            close_fds=True,
            env=env,
            cwd=str(ctx.loaded.root),
        )
    except BaseException:
        log_file.close()
        raise
    return _Process(proc, log_file)


# the finisher's side, and later commands -------------------------------------------------------------------


def finish(
    ctx: RolloutContext, service: str, *, rollout_id: str | None = None, token: str | None = None
) -> RolloutState | None:
    """Finish the leftovers of ``service``'s rollback; None when there are none (or, with ``token``, when they
    were not handed to this process). LockHeld (exit 8) while a live finisher works on them."""
    from coursectl.api.rollout import locking as ro

    state = ctx.store.active(ctx.env_name, service)
    if not is_leftover(state) or (rollout_id is not None and state is not None and state.id != rollout_id):
        return None
    assert state is not None
    held = ctx.ledger.lock_info(ctx.env_name, service)
    if token is not None:
        if held is None or held.token != token:
            return None  # handed to someone else meanwhile (or never): theirs to finish
        lock = held
    else:
        if holder_alive(held):
            assert held is not None
            raise LockHeld(
                f"the rollback of {service} is being finished by {held.holder} ({held.reason})",
                hint=f"coursectl rollout status {service} --env {ctx.env_name}",
                details=held.to_dict(),
            )
        lock = ro.acquire(
            ctx, service, ro.lock_reason("finish-rollback", service, state.version, state.id), take_over=True
        )
        latest = ctx.store.load(state.id)
        if not is_leftover(latest):
            ctx.ledger.release_lock(lock)
            return None
        assert latest is not None
        state = latest
    log.info("%s: finishing rollout %s: %s", service, state.id, ", ".join(describe_leftovers(state)))
    return ro.run_locked(ctx, state, lock)


def settle(
    ctx: RolloutContext,
    service: str,
    *,
    wait: float = SETTLE_WAIT,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> RolloutState | None:
    """Before a deploy or a rollback of ``service`` acts: leftovers of an earlier rollback are waited for while
    their finisher lives (at most ``wait`` seconds, then LockHeld), else finished here. Returns the state they
    ended in, or None when there were none."""
    state = ctx.store.active(ctx.env_name, service)
    if not is_leftover(state):
        return None
    assert state is not None
    deadline = monotonic() + wait
    while True:
        latest = ctx.store.load(state.id)
        if latest is None or not latest.active:
            return latest
        held = ctx.ledger.lock_info(ctx.env_name, service)
        if not holder_alive(held):
            try:
                return finish(ctx, service, rollout_id=state.id) or ctx.store.load(state.id)
            except LockHeld:  # a finisher (or another command) took it just now: wait for it
                pass
        if monotonic() >= deadline:
            raise LockHeld(
                f"the rollback of {service} is still finishing ({', '.join(describe_leftovers(latest))})"
                + (f" by {held.holder} ({held.reason})" if held else ""),
                hint=f"wait, or see coursectl rollout status {service} --env {ctx.env_name}",
            )
        sleep(0.1)
