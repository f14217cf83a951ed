"""Run the waves of a release: parallel rollouts within a wave, all or nothing on failure, resume and abort.

Every rollout and rollback runs through the public use cases of ``api.rollout`` (``deploy``, ``request``,
``rollback``) in a thread of its own, on a ledger connection of its own and the adapters the release built
once. The release entity (``rollout/release_state.py``) is saved after every change of a service's state, so
that ``release resume|abort`` in another process carries on from the ledger after a kill -9.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from coursectl.errors import CoursectlError, GateBlocked, LockHeld, PreconditionError, RolloutFailed
from coursectl.rollout import steps as st
from coursectl.rollout.release_state import ReleaseState, ReleaseStore, stamp
from coursectl.rollout.state import ABORTED, FAILED, PAUSED, SUCCEEDED
from coursectl.rollout.waves import rollback_order

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
Watch = Callable[[ReleaseState], None]
Outcome = tuple[str, str, Any]  # (service state, message, rollout state or None)


def _quiet(_message: str) -> None:
    return None


class ReleaseRunner:
    """Runs (or resumes, or undoes) one release; see the module docstring."""

    def __init__(
        self,
        ctx: Any,
        release: ReleaseState,
        *,
        progress: Progress = _quiet,
        watch: Watch | None = None,
        poll: float = 0.2,
    ):
        from coursectl.api import rollout as api

        self.api = api
        self.ctx = ctx
        self.rel = release
        self.progress = progress
        self.watch = watch
        self.poll = poll
        self.store = ReleaseStore(ctx.ledger)
        self.lock = threading.Lock()  # the main ledger connection and the CLI's observers, one thread at a time
        self.changes: queue.Queue[Any] = queue.Queue()
        self.stopping = False
        self.abort_by: str | None = None  # who asked this release to abort (``release abort`` from elsewhere)
        self._abort_checked = 0.0
        self._contexts: list[Any] = []
        if release.waves:  # built once, before any thread, and shared by them
            ctx.rig(api.ROLLOUT)
            ctx.rig(api.OBSERVE)

    # plumbing ----------------------------------------------------------------------------------------

    def save(self, message: str | None = None) -> None:
        if message is not None:
            self.rel.message = message
        with self.lock:
            self.store.save(self.rel)
            if self.watch is not None:
                self.watch(self.rel)

    def abort_requested(self, *, every: float = 0.5) -> bool:
        """Whether ``release abort`` (another process, maybe another host) asked this release to stop: read from
        the ledger at most every ``every`` seconds; once seen, nothing more starts."""
        if self.abort_by is not None:
            return True
        now = time.monotonic()
        if now - self._abort_checked < every:
            return False
        self._abort_checked = now
        with self.lock:
            request = self.store.requested(self.rel)
        if request is None or request.outcome != "abort":
            return False
        self.abort_by, self.stopping = request.actor, True
        self.progress(f"abort requested by {request.actor}: stopping, then rolling back what it promoted")
        return True

    def _context(self) -> Any:
        """A context for one thread: its own ledger connection, the release's adapters, observers serialised."""
        ledger = self.ctx.ledger.for_thread()  # SQLite transactions are per connection
        observer = self.ctx.on_change

        def on_change(state: Any) -> None:
            self.changes.put(state)
            if observer is not None:
                with self.lock:
                    observer(state)

        wctx = dataclasses.replace(self.ctx, ledger=ledger, on_change=on_change, taken_over=None)
        self._contexts.append(wctx)
        return wctx

    def close(self) -> None:
        for wctx in self._contexts:
            if wctx.ledger is not self.ctx.ledger:
                wctx.ledger.close()
        self._contexts.clear()

    def _drain(self) -> None:
        """Fold the rollouts' changes (from the threads) into the entries: rollout id and current step."""
        changed = False
        while True:
            try:
                state = self.changes.get_nowait()
            except queue.Empty:
                break
            entry = self.rel.services.get(state.service)
            if entry is None:
                continue
            if entry.rollout_id != state.id and entry.state in ("rolling", "rolling-back"):
                entry.rollout_id = state.id
                changed = True
            step = state.current_step
            entry.step = (
                f"{state.phase} {state.step_index + 1}/{len(state.steps)}: {st.describe(step)}" if step else ""
            )
            entry.step = entry.step if state.phase not in (SUCCEEDED, ABORTED, FAILED) else state.phase
            if self.watch is not None:
                with self.lock:
                    self.watch(self.rel)
        if changed:
            self.save()

    def _parallel(
        self,
        names: Sequence[str],
        task: Callable[[Any, str], Outcome],
        *,
        started: str,
        abort_wave_on_failure: bool,
    ) -> None:
        """Run ``task`` for ``names``, at most ``parallel`` at a time, recording each outcome as it comes. When
        one fails and the release undoes everything, the others running are asked to abort and no more start."""
        pending = deque(names)
        running: dict[Future[Outcome], str] = {}
        to_abort: set[str] = set()
        with ThreadPoolExecutor(max_workers=max(1, self.rel.parallel), thread_name_prefix="release") as pool:
            while pending or running:
                while pending and len(running) < self.rel.parallel and not self.stopping:
                    name = pending.popleft()
                    entry = self.rel.entry(name)
                    entry.state, entry.started_at, entry.message = started, stamp(), ""
                    self.save()
                    self.progress(
                        f"{name}: {started} ({entry.from_version or '(nothing)'} → {entry.version})"
                        if started == "rolling"
                        else f"{name}: {started} to {entry.from_version}"
                    )
                    running[pool.submit(self._call, task, name)] = name
                if not running:
                    break
                done, _ = wait(running, timeout=self.poll, return_when=FIRST_COMPLETED)
                self._drain()
                if abort_wave_on_failure and self.abort_by is None and self.abort_requested():
                    to_abort |= set(running.values())
                for future in done:
                    name = running.pop(future)
                    state, message, rollout = future.result()
                    entry = self.rel.entry(name)
                    entry.state, entry.message, entry.finished_at = state, message, stamp()
                    if rollout is not None:
                        entry.rollout_id = rollout.id
                    if state == "promoted":
                        entry.warm_slot = warm_slot(rollout)
                    elif state == "rolled-back":
                        entry.warm_slot = None
                    entry.step = ""
                    self.save()
                    self.progress(f"{name}: {state}" + (f" — {message}" if message else ""))
                    if state in ("failed", "rollback-failed") and abort_wave_on_failure and not self.stopping:
                        self.stopping = True
                        if self.rel.on_failure == "rollback-all":
                            to_abort |= set(running.values())
                    elif state == "paused":
                        self.stopping = True  # a human decides; nothing more starts
                to_abort &= set(running.values())
                for name in sorted(to_abort):
                    if self._post_abort(name):
                        to_abort.discard(name)
        for name in pending:
            entry = self.rel.entry(name)
            entry.state, entry.message = "skipped", "not started: the release stopped"
        if pending:
            self.save()

    def _call(self, task: Callable[[Any, str], Outcome], name: str) -> Outcome:
        wctx = self._context()
        try:
            return task(wctx, name)
        except CoursectlError as exc:
            return ("failed", exc.message, None)
        except Exception as exc:  # a bug in one thread must not leave the release without a verdict
            log.exception("release: %s", name)
            return ("failed", f"internal error: {exc}", None)

    def _post_abort(self, name: str) -> bool:
        """Ask the rollout of ``name`` to abort; False when it has not started yet (try again)."""
        if not hasattr(self, "_abort_ctx"):
            self._abort_ctx = self._context()
        try:
            self.api.request(self._abort_ctx, name, "abort", wait=0)
        except PreconditionError:
            return False
        except CoursectlError as exc:
            log.warning("release: abort of %s: %s", name, exc.message)
        self.progress(f"{name}: abort requested (another service of the wave failed)")
        return True

    # tasks -------------------------------------------------------------------------------------------

    def _deploy(self, wctx: Any, name: str) -> Outcome:
        entry = self.rel.entry(name)
        try:
            state = self.api.deploy(
                wctx,
                name,
                version=entry.version,
                digest=entry.digest,
                set_env=dict(self.rel.set_env),
                keep_old_warm=self.rel.keep_old_warm,  # old colours retired once the release is good
            )
        except RolloutFailed as exc:
            rollout = wctx.store.load(str(exc.details["rollout_id"])) if exc.details.get("rollout_id") else None
            aborted_by_us = self.stopping and rollout is not None and "aborted by" in (rollout.message or "")
            return ("aborted" if aborted_by_us else "failed", exc.message, rollout)
        return self._settled(state)

    @staticmethod
    def _settled(state: Any) -> Outcome:
        if state.phase == PAUSED:
            return ("paused", state.message, state)
        if state.phase in (ABORTED, FAILED):
            return ("failed", state.message, state)
        return (
            "unchanged" if state.unchanged else "promoted",
            "" if not state.unchanged else state.message,
            state,
        )

    def _continue(self, wctx: Any, name: str) -> Outcome:
        """A rollout a killed release left in flight: resumed (it finishes as it would have)."""
        entry = self.rel.entry(name)
        try:
            state = self.api.request(wctx, name, "resume")
        except RolloutFailed as exc:
            return ("failed", exc.message, None)
        if state.phase in (ABORTED, FAILED):
            return ("failed", f"rollout of {name} {entry.version} {state.phase}: {state.message}", state)
        return self._settled(state)

    def _rollback(self, wctx: Any, name: str) -> Outcome:
        entry = self.rel.entry(name)
        if entry.from_version is None:
            return ("kept", "nothing ran before this release: nothing to roll back to", None)
        try:
            active = wctx.store.active(self.rel.environment, name)
            if active is not None and active.kind == "rollback":  # a rollback a killed release left in flight
                state = self.api.request(wctx, name, "resume")
                if state.phase != SUCCEEDED:
                    return ("rollback-failed", f"{state.phase}: {state.message}", state)
                return ("rolled-back", f"back on {entry.from_version}", state)
            state = self.api.rollback(wctx, name, to_version=entry.from_version)
        except PreconditionError as exc:
            if "already live" in exc.message:
                return ("rolled-back", f"{entry.from_version} is live", None)
            return ("rollback-failed", exc.message, None)
        except (RolloutFailed, LockHeld) as exc:
            return ("rollback-failed", exc.message, None)
        return ("rolled-back", f"back on {entry.from_version}", state)

    def retire_warm(self) -> None:
        """Stop the old colours the release kept warm (its promoted and kept services), in parallel, each no
        sooner than ``scale_down_delay`` after its promotion. A slot that cannot be stopped is reported, not
        fatal: the release's verdict stands, and the next deploy of the service replaces the slot."""
        names = [n for n in self.rel.in_state("promoted", "kept") if self.rel.entry(n).warm_slot]
        if not names:
            return
        delay = float(getattr(self.ctx.env, "scale_down_delay", 0.0) or 0.0)
        self.progress(f"retiring the old colours of {', '.join(names)}" + (f" ({delay:g} s after each promotion)"
                                                                            if delay else ""))  # fmt: skip

        def retire(name: str) -> tuple[str, str]:
            entry = self.rel.entry(name)
            promoted = _epoch(entry.finished_at)
            wctx = self._context()
            try:
                done = self.api.retire_warm(
                    wctx, name, slot=str(entry.warm_slot), version=entry.from_version,
                    not_before=promoted + delay if promoted is not None else 0.0, release_id=self.rel.id,
                )  # fmt: skip
            except CoursectlError as exc:
                return name, f"not retired: {exc.message}"
            return name, done

        with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="retire") as pool:
            for name, done in pool.map(retire, names):
                entry = self.rel.entry(name)
                self.progress(f"{name}: old colour {entry.warm_slot} {done}")
                if done == "retired" or done.startswith("left"):
                    entry.warm_slot = None
                else:
                    log.warning("release %s: %s: %s", self.rel.id, name, done)
        self.save()
        self.close()

    # the release ---------------------------------------------------------------------------------------

    def reconcile(self) -> None:
        """After a kill -9: what the rollouts the release had started became (read from the ledger)."""
        for name in self.rel.in_state("rolling", "rolling-back"):
            entry = self.rel.entry(name)
            rollout = self.ctx.store.load(entry.rollout_id) if entry.rollout_id else None
            if rollout is None:
                latest = self.ctx.store.latest(self.rel.environment, name)
                if latest is not None and (latest.started_at or "") >= (entry.started_at or ""):
                    rollout = latest
            if rollout is None:
                entry.state = "pending" if entry.state == "rolling" else "promoted"
                continue
            entry.rollout_id = rollout.id
            if rollout.phase == SUCCEEDED:
                entry.state = "promoted" if entry.state == "rolling" else "rolled-back"
                entry.warm_slot = warm_slot(rollout) if entry.state == "promoted" else None
            elif rollout.phase in (ABORTED, FAILED):
                entry.state = "failed" if entry.state == "rolling" else "rollback-failed"
                entry.message = rollout.message
            elif rollout.phase == PAUSED:
                entry.state = "paused"
            # else still in flight: continued by run()
        self.save()

    def run(self) -> ReleaseState:
        """Roll the waves out (from where the release is), then settle failures: the whole release."""
        try:
            for index, wave in enumerate(self.rel.waves):
                in_flight = [n for n in wave if self.rel.entry(n).state == "rolling"]
                todo = [n for n in wave if self.rel.entry(n).state == "pending"]
                if self._failed() or self._paused() or self.abort_requested(every=0):
                    break
                if not in_flight and not todo:
                    continue
                self.progress(f"wave {index + 1}/{len(self.rel.waves)}: {', '.join(in_flight + todo)}")
                if in_flight:
                    self._parallel(in_flight, self._continue, started="rolling", abort_wave_on_failure=True)
                self._parallel(todo, self._deploy, started="rolling", abort_wave_on_failure=True)
            return self.settle()
        finally:
            self.close()

    def _failed(self) -> list[str]:
        return self.rel.in_state("failed")

    def _paused(self) -> list[str]:
        return self.rel.in_state("paused")

    def settle(self, reason: str | None = None) -> ReleaseState:
        """The verdict: all promoted → the caller goes on (load, journey); a failure → rolled back (rollback-all)
        or kept, exit 7; a paused rollout → exit 6, resumable. ``reason``: a failure found after the waves. An
        abort asked by ``release abort`` rolls back what the release promoted, whatever ``on_failure`` says."""
        if self.abort_requested(every=0):
            for name in self.rel.in_state("pending"):
                self.rel.entry(name).state = "skipped"
            self.undo(f"aborted by {self.abort_by}", final="aborted")
            raise RolloutFailed(
                f"release {self.rel.id} {self.rel.phase}: aborted by {self.abort_by}",
                hint=f"coursectl release status --env {self.rel.environment}",
                details={"release_id": self.rel.id, "phase": self.rel.phase},
            )
        failed = self._failed()
        if not failed and reason is None:
            paused = self._paused()
            if paused:
                for name in self.rel.in_state("pending"):
                    self.rel.entry(name).state = "skipped"
                self.rel.phase = "paused"
                self.save(f"the rollout of {', '.join(paused)} is paused for a human")
                raise GateBlocked(
                    f"release {self.rel.id}: the rollout of {', '.join(paused)} is paused: "
                    + "; ".join(self.rel.entry(n).message for n in paused),
                    hint=f"coursectl rollout resume|promote|abort {paused[0]} --env {self.rel.environment}, then"
                    f" coursectl release resume --env {self.rel.environment}",
                    details={"release_id": self.rel.id},
                )
            return self.rel
        what = reason or "; ".join(f"{n}: {self.rel.entry(n).message}" for n in failed)
        for name in self.rel.in_state("pending"):
            self.rel.entry(name).state = "skipped"
        if self.rel.on_failure == "rollback-all":
            self.undo(f"release {self.rel.id} failed ({what})")
            raise RolloutFailed(
                f"release {self.rel.id} {self.rel.phase}: {what}",
                hint=f"coursectl release status --env {self.rel.environment}",
                details={"release_id": self.rel.id, "phase": self.rel.phase},
            )
        kept = self.rel.in_state("promoted")
        for name in kept:
            self.rel.entry(name).state = "kept"
        self.retire_warm()
        self.rel.phase, self.rel.finished_at = "failed", stamp()
        self.save(f"{what}; kept (on_failure: keep): {', '.join(kept) or 'none'}")
        error = RolloutFailed if failed else GateBlocked
        raise error(
            f"release {self.rel.id} failed: {what}"
            + (f"; kept on their new versions: {', '.join(kept)}" if kept else ""),
            hint=f"coursectl release status --env {self.rel.environment}",
            details={"release_id": self.rel.id, "phase": self.rel.phase},
        )

    def undo(self, why: str, *, final: str = "rolled-back") -> None:
        """Roll every service this release promoted back to its previous version, the last wave first."""
        self.stopping = False
        self.rel.phase = "rolling-back" if final == "rolled-back" else "aborting"
        self.save(why)
        promoted = self.rel.in_state("promoted", "rolling-back")
        for group in rollback_order(self.rel.waves, promoted):
            self.progress(f"rolling back: {', '.join(group)}")
            self._parallel(group, self._rollback, started="rolling-back", abort_wave_on_failure=False)
        broken = self.rel.in_state("rollback-failed")
        self.rel.phase = final if not broken else "failed"
        self.rel.finished_at = stamp()
        self.save(why + (f"; rollback failed for {', '.join(broken)}" if broken else ""))
        self.close()


def warm_slot(rollout: Any) -> str | None:
    """The old colour a promoted blue-green rollout left running (planned with ``keep_old_warm``), or None (a
    canary's stable slot runs the new version once promoted; other strategies retire the old slot themselves)."""
    old = getattr(rollout, "stable_slot", None)
    if getattr(rollout, "strategy", None) != "blue-green" or not old or old == getattr(rollout, "new_slot", None):
        return None
    retired = any(isinstance(step, st.Retire) and step.slot == old for step in getattr(rollout, "steps", ()))
    return None if retired else str(old)


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def abort_release(
    ctx: Any, release: ReleaseState, *, progress: Progress = _quiet, watch: Watch | None = None
) -> ReleaseState:
    """``release abort``: rollouts left in flight are aborted, every promoted service rolled back (last wave
    first), nothing more starts."""
    runner = ReleaseRunner(ctx, release, progress=progress, watch=watch)
    try:
        runner.reconcile()
        in_flight = release.in_state("rolling")
        for name in in_flight:
            try:
                if ctx.store.active(release.environment, name) is not None:
                    runner.api.request(ctx, name, "abort")
            except CoursectlError as exc:
                log.warning("release abort: %s: %s", name, exc.message)
            entry = release.entry(name)
            entry.state, entry.message = "aborted", f"aborted by {ctx.actor}"
        for name in release.in_state("pending", "paused"):
            if release.entry(name).state == "paused":
                try:
                    runner.api.request(ctx, name, "abort")
                except CoursectlError as exc:
                    log.warning("release abort: %s: %s", name, exc.message)
            release.entry(name).state = "skipped"
        runner.undo(f"aborted by {ctx.actor}", final="aborted")
        return release
    finally:
        runner.close()
