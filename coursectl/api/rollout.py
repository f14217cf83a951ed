"""Use cases of progressive delivery: deploy, rollout status/promote/pause/resume/abort, rollback, status."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coursectl.domain import LedgerEvent, LockInfo, current_actor
from coursectl.errors import CoursectlError, LockHeld, PreconditionError, RolloutFailed, UsageError
from coursectl.rollout import steps as st
from coursectl.rollout.analysis import AnalysisRules, Measurement, Tally, last_round, round_line
from coursectl.rollout.engine import Engine, EngineSettings
from coursectl.rollout.fingerprint import slot_fingerprint
from coursectl.rollout.plan import live_slot, plan_rollout, plan_warm_switch
from coursectl.rollout.state import ABORTED, ABORTING, FAILED, PAUSED, PROGRESSING, SUCCEEDED, RolloutState
from coursectl.rollout.store import RolloutStore

log = logging.getLogger(__name__)

LOCK_TTL = 30.0
HEARTBEAT_EVERY = 5.0


OBSERVE = "observe"  # the target and the edge, read-only (status, dry runs): no registry login, no metrics
ROLLOUT = "rollout"  # everything a rollout needs: a target that can pull, the edge, the metrics provider, a clock


@dataclass
class RolloutContext:
    """What every use case needs: the loaded configuration, the ledger, the state directory, the adapters.

    ``rig(need)`` builds the adapters a use case needs (``OBSERVE`` or ``ROLLOUT``), once per need: ``release``
    asks for the status first and deploys after, and the deploy gets its metrics provider and registry login.
    ``rig_factory(loaded, state_dir, need=...)`` replaces the wiring (tests).
    """

    loaded: Any
    ledger: Any
    state_dir: Path
    actor: str = field(default_factory=current_actor)
    rig_factory: Callable[..., Any] | None = None
    on_change: Callable[[RolloutState], None] | None = None
    taken_over: LockInfo | None = None  # someone else's deploy lock this process took over (rollback)
    kubeconfig: str | None = None  # kubernetes: --kubeconfig (else the environment's, KUBECONFIG, ~/.kube)
    read_only: bool = False  # a dry run: the adapters are built without writing anything
    _rigs: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Any:
        return self.loaded.config

    @property
    def env(self) -> Any:
        return self.loaded.environment

    @property
    def env_name(self) -> str:
        _ = self.loaded.environment
        return str(self.loaded.env_name)

    def rig(self, need: str = ROLLOUT) -> Any:
        """The adapters for ``need``, built the first time this need asks for them."""
        if need not in self._rigs:
            if self.rig_factory is not None:
                self._rigs[need] = self.rig_factory(self.loaded, self.state_dir, need=need)
            else:
                from coursectl.wiring import build_rig

                self._rigs[need] = build_rig(
                    self.loaded, self.state_dir, need=need, kubeconfig=self.kubeconfig, read_only=self.read_only
                )
        return self._rigs[need]

    def any_rig(self) -> Any:
        """A rig already built (the rollout one first), else the observing one: for what every rig of an
        environment says alike (its target's in-place strategies, the slots' service URLs)."""
        return self._rigs.get(ROLLOUT) or self.rig(OBSERVE)

    @property
    def store(self) -> RolloutStore:
        return RolloutStore(self.ledger)

    def head_commit(self) -> str | None:
        """The commit of the work tree the configuration lives in; None when it is not a git checkout."""
        from coursectl.wiring import head_commit

        return head_commit(self.loaded.root)

    def available_versions(self, service: str) -> str:
        """A sentence naming the versions of ``service`` the registry has (or the ledger's pushes)."""
        from coursectl.wiring import describe_versions

        return describe_versions(self.loaded, self.state_dir, self.ledger, service)

    def service(self, name: str) -> Any:
        if name not in self.config.services:
            raise UsageError(
                f"unknown service {name!r}", hint=f"services: {', '.join(sorted(self.config.services))}"
            )
        return self.config.services[name]


# locks ---------------------------------------------------------------------------------------------------


def _lock_reason(kind: str, service: str, version: str, rollout_id: str) -> str:
    return f"{kind} {service} {version} rollout={rollout_id} pid={os.getpid()} host={socket.gethostname()}"


def holder_alive(lock: LockInfo | None) -> bool:
    """Whether a lock is held by a live process: not expired, and (on this host) its pid still runs."""
    if lock is None or lock.expired():
        return False
    fields = dict(part.split("=", 1) for part in lock.reason.split() if "=" in part)
    if fields.get("host") == socket.gethostname() and fields.get("pid", "").isdigit():
        try:
            os.kill(int(fields["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


class _Heartbeat:
    """Keeps the deploy lock alive from a thread of its own (a slow image pull or readiness wait must not let it
    expire), on its own ledger connection; the engine calls it between steps to learn of a take-over."""

    def __init__(self, ledger: Any, lock: LockInfo):
        self.lock = lock
        self.lost: LockHeld | None = None
        self._path = getattr(ledger, "path", None)
        self._ledger = ledger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coursectl-lock-heartbeat", daemon=True)

    def start(self) -> _Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        from coursectl.ledger import SqliteLedger

        own = SqliteLedger(self._path) if self._path is not None else self._ledger
        try:
            while not self._stop.wait(HEARTBEAT_EVERY):
                try:
                    self.lock = own.refresh_lock(self.lock, ttl=LOCK_TTL)
                except LockHeld as exc:
                    self.lost = exc
                    return
                except CoursectlError as exc:  # a busy ledger: try again at the next beat
                    log.warning("lock heartbeat: %s", exc.message)
        finally:
            if own is not self._ledger:
                own.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_EVERY + 5)

    def __call__(self) -> None:
        if self.lost is not None:
            raise self.lost


def _acquire(
    ctx: RolloutContext, service: str, reason: str, *, wait: float = 0.0, take_over: bool = False
) -> LockInfo:
    held = ctx.ledger.lock_info(ctx.env_name, service)
    if held is not None and not take_over and not holder_alive(held):
        take_over = True  # abandoned (its process is gone): take it over, recorded with whose it was
    return ctx.ledger.acquire_lock(
        ctx.env_name, service, holder=ctx.actor, reason=reason, ttl=LOCK_TTL, wait=wait, take_over=take_over
    )


# the engine ----------------------------------------------------------------------------------------------


def slot_env(ctx: RolloutContext, service: str) -> dict[str, str]:
    """The environment of a slot: every service reached through the edge (``<SERVICE>_URL``, so calls follow
    the live slot), then the service's own ``env`` from the configuration, then (docker and process targets) its
    ``secrets`` resolved from the environment, a file or the state directory's secrets.env (AuthError naming one
    that is not set)."""
    edge = f"http://{ctx.env.edge.bind}"
    urls = getattr(ctx.any_rig(), "service_urls", None) or {f"{n.upper()}_URL": edge for n in ctx.config.services}
    svc = ctx.service(service)
    secrets: dict[str, str] = {}
    if ctx.env.target != "kubernetes":  # there the pods read them from a Secret (render/kubernetes.py)
        secrets_file = ctx.state_dir / "secrets.env"
        secrets = {name: ref.resolve(secrets_file=secrets_file) for name, ref in svc.secrets.items()}
    return {**urls, **dict(svc.env), **secrets}


def engine_for(ctx: RolloutContext, service: str, heartbeat: Callable[[], None] | None) -> Engine:
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


def _run_locked(
    ctx: RolloutContext, state: RolloutState, lock: LockInfo, before: Callable[[Engine], None] | None = None
) -> RolloutState:
    beat = _Heartbeat(ctx.ledger, lock).start()
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
        try:
            beat.stop()
            ctx.ledger.release_lock(beat.lock)
        except Exception:  # the lock was taken over: nothing of ours to release
            pass


def _live(
    ctx: RolloutContext, service: str, need: str = ROLLOUT, *, read_only: bool = False
) -> tuple[dict[str, int], dict[str, Any]]:
    """Live weights and running slots, reconciled: a slot the router knows but the target does not run (a
    container removed by hand) is taken out of the routing first, so plans only ever build on what runs.
    ``read_only`` (a dry run): nothing is started, written or removed; the weights are the live ones, or those a
    stopped edge would come back with."""
    rig = ctx.rig(need)
    if read_only:
        read = getattr(rig.router, "planned_weights", rig.router.weights)
        running_now = {s.slot: s for s in rig.target.slots(service) if s.running}
        return {slot: w for slot, w in read(service).items() if slot in running_now}, running_now
    if hasattr(rig.router, "ensure_running"):
        rig.router.ensure_running()
    weights = rig.router.weights(service)
    running = {s.slot: s for s in rig.target.slots(service) if s.running}
    stale = [slot for slot in weights if slot not in running]
    for slot in stale:
        log.warning("%s: the edge routes to %s, which does not run: removing it from the edge", service, slot)
        rig.router.remove(service, slot)
    if stale:  # a router that cannot route nowhere (a Service keeps its selector) still names it: left out
        weights = {slot: w for slot, w in rig.router.weights(service).items() if slot in running}
    return weights, running


# deploy --------------------------------------------------------------------------------------------------


def image_for(config: Any, service: str, version: str) -> str:
    return f"{config.registry.url}/{config.registry.namespace}/{service}:{version}"


def resolve_artifact(ctx: RolloutContext, service: str, version: str | None, digest: str | None) -> dict[str, Any]:
    """Version, digest, image and commit of what to deploy, from the ledger's push records when there are some.

    Without ``version`` and ``digest``: what was built and pushed for the work tree's commit
    (``current_artifact``).
    """
    if version is None and digest is None:
        return current_artifact(ctx, service)
    pushes = ctx.ledger.events(service=service, kinds=["push", "build"], limit=200)
    for event in pushes:
        d = event.details
        if (version and event.version == version) or (digest and d.get("digest") == digest):
            return _artifact(ctx, service, event, version=version, digest=digest)
    version = version or (digest or "")[7:19]
    return {
        "version": version,
        "digest": digest,
        "image": image_for(ctx.config, service, version),
        "git_commit": None,
    }


def _artifact(
    ctx: RolloutContext, service: str, event: LedgerEvent, *, version: str | None = None, digest: str | None = None
) -> dict[str, Any]:
    d = event.details
    version = version or event.version
    repository = d.get("repository")
    image = d.get("image") or (f"{repository}:{event.version}" if repository else None)
    return {
        "version": version,
        "digest": digest or d.get("digest"),
        "image": image or image_for(ctx.config, service, str(version)),
        "git_commit": event.git_commit,
    }


def current_artifact(ctx: RolloutContext, service: str) -> dict[str, Any]:
    """The image of ``service`` built and pushed for the work tree's commit (the newest such push).

    PreconditionError (exit 4) when there is none, naming the versions the registry has instead.
    """
    head = ctx.head_commit()
    if head is not None:
        for event in ctx.ledger.events(service=service, kinds=["push"], limit=500):
            if event.outcome == "succeeded" and event.git_commit == head and event.details.get("digest"):
                return _artifact(ctx, service, event)
    where = f"commit {head[:12]}" if head else "this folder (not a git checkout)"
    raise PreconditionError(
        f"no image of {service} was built and pushed for {where}; {ctx.available_versions(service)}",
        hint=f"coursectl build {service} --push, or give one with --version (coursectl images {service})",
    )


def _in_place(ctx: RolloutContext, strategy: str) -> bool:
    """Whether the target runs ``strategy`` by updating the live slot itself (kubernetes rolling/recreate)."""
    return strategy in (getattr(ctx.any_rig(), "in_place", None) or ())


def default_canary_steps(interval: float) -> list[tuple[int | None, float | None]]:
    """Steps of a canary environment that gives none: never promote without analysis."""
    return [(20, 3 * interval), (50, 3 * interval)]


def plan_deploy(
    ctx: RolloutContext,
    service: str,
    *,
    version: str | None = None,
    digest: str | None = None,
    strategy: str | None = None,
    set_env: Mapping[str, str] | None = None,
    hotfix: bool = False,
    need: str = OBSERVE,
    read_only: bool = False,
) -> RolloutState:
    """The rollout a deploy would run, from the live state (``read_only``: a dry run, which changes nothing)."""
    ctx.service(service)
    weights, running = _live(ctx, service, need, read_only=read_only)
    return _plan(
        ctx, service, weights, running,
        version=version, digest=digest, strategy=strategy, set_env=set_env, hotfix=hotfix,
    )  # fmt: skip


def _plan(
    ctx: RolloutContext,
    service: str,
    weights: Mapping[str, int],
    running: Mapping[str, Any],
    *,
    version: str | None,
    digest: str | None,
    strategy: str | None,
    set_env: Mapping[str, str] | None,
    hotfix: bool,
) -> RolloutState:
    env = ctx.env
    artifact = resolve_artifact(ctx, service, version, digest)
    steps = [(s.weight, s.pause) for s in env.steps] or default_canary_steps(ctx.config.analysis.interval)
    return plan_rollout(
        environment=ctx.env_name,
        service=service,
        version=artifact["version"],
        strategy=strategy or env.strategy,
        in_place=_in_place(ctx, strategy or env.strategy),
        weights=weights,
        running=running,
        canary_steps=steps,
        post_analysis=env.post_promotion_analysis,
        scale_down_delay=env.scale_down_delay,
        digest=artifact["digest"],
        image=artifact["image"],
        git_commit=artifact["git_commit"],
        hotfix=hotfix,
        set_env=dict(set_env or {}),
        actor=ctx.actor,
        reason="deploy",
        stable_image=_image_of(ctx, service, running, weights),
    )


def _image_of(
    ctx: RolloutContext, service: str, running: Mapping[str, Any], weights: Mapping[str, int]
) -> str | None:
    slot = live_slot(weights, sorted(running))
    return image_for(ctx.config, service, running[slot].version) if slot else None


def secret_names(ctx: RolloutContext, service: str) -> frozenset[str]:
    """The variables of a slot's environment that come from secret references (never hashed)."""
    return frozenset(ctx.service(service).secrets)


def wanted_fingerprint(ctx: RolloutContext, state: RolloutState) -> str:
    """The fingerprint the new slot of ``state`` will carry (the engine computes it the same way)."""
    env = {**slot_env(ctx, state.service), **state.set_env}
    return slot_fingerprint(
        image=state.image,
        digest=state.digest,
        version=state.version,
        env=env,
        secret_names=secret_names(ctx, state.service),
    )


def already_live(
    ctx: RolloutContext, state: RolloutState, weights: Mapping[str, int], running: Mapping[str, Any]
) -> str | None:
    """The slot that already serves all traffic with the release ``state`` would roll out — the same
    version, image and environment (the fingerprint recorded on the slot) — else None."""
    live = live_slot(weights, sorted(running))
    if live is None or weights.get(live) != 100:
        return None
    slot = running[live]
    if slot.version != state.version or (state.digest and slot.digest not in (None, state.digest)):
        return None
    if not getattr(ctx.any_rig(), "fingerprints", True):  # a target that keeps its own (kubernetes' template hash)
        return live
    return live if slot.fingerprint == wanted_fingerprint(ctx, state) else None


def is_live(
    ctx: RolloutContext,
    service: str,
    *,
    version: str | None = None,
    digest: str | None = None,
    set_env: Mapping[str, str] | None = None,
) -> bool:
    """Whether a deploy of this release would be a no-op (reads only)."""
    weights, running = _live(ctx, service, OBSERVE)
    state = _plan(
        ctx, service, weights, running,
        version=version, digest=digest, strategy=None, set_env=set_env, hotfix=False,
    )  # fmt: skip
    return already_live(ctx, state, weights, running) is not None


def deploy(ctx: RolloutContext, service: str, *, lock_wait: float = 0.0, **options: Any) -> RolloutState:
    """Roll ``service`` out; RolloutFailed (exit 7) when it ends aborted, LockHeld (exit 8) when locked.

    The same version, image and environment as the live slot is a reported no-op (``unchanged``); the same
    version with another environment (``set_env``, a changed ``env`` in the configuration) is a new release,
    rolled out with the environment's strategy.
    """
    from coursectl.api import finisher  # i18: a rollback's leftovers are finished before anything else

    finisher.settle(ctx, service)
    lock = _acquire(
        ctx, service, _lock_reason("deploy", service, str(options.get("version") or ""), "-"), wait=lock_wait
    )
    try:
        active = ctx.store.active(ctx.env_name, service)
        if active is not None:
            raise PreconditionError(
                f"rollout {active.id} of {service} {active.version} is {active.phase}: {active.message}",
                hint=f"coursectl rollout resume|abort {service} --env {ctx.env_name}",
            )
        ctx.service(service)
        weights, running = _live(ctx, service, ROLLOUT)
        state = _plan(
            ctx,
            service,
            weights,
            running,
            version=options.get("version"),
            digest=options.get("digest"),
            strategy=options.get("strategy"),
            set_env=options.get("set_env"),
            hotfix=bool(options.get("hotfix")),
        )
        live = already_live(ctx, state, weights, running)
        if live is not None:
            state.phase, state.unchanged = SUCCEEDED, True
            state.message = f"{service} {state.version} is already live ({live}), same image and environment"
            state.steps = []
            ctx.ledger.release_lock(lock)
            return state
        ctx.store.save(state)
    except BaseException:
        ctx.ledger.release_lock(lock)
        raise
    final = _run_locked(ctx, state, lock)
    return _enforce(final)


def _enforce(state: RolloutState) -> RolloutState:
    if state.phase in (ABORTED, FAILED):
        raise RolloutFailed(
            f"rollout of {state.service} {state.version} {state.phase}: {state.message}",
            hint=f"coursectl history {state.service} --env {state.environment} -k rollout.measurement",
            details={"rollout_id": state.id, "phase": state.phase, "analysis": state.analysis},
        )
    return state


# operator requests ---------------------------------------------------------------------------------------


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
    if holder_alive(lock) and state.phase != PAUSED:
        if what == "resume":
            raise LockHeld(
                f"the rollout of {service} is running (held by {lock.holder})",  # type: ignore[union-attr]
                details=lock.to_dict(),
            )  # type: ignore[union-attr]
        ctx.store.post_request(state.id, what, ctx.actor)
        settled = {
            "pause": lambda s: s.phase != PROGRESSING,
            "abort": lambda s: s.phase in (ABORTED, FAILED),
            "promote": lambda s: s.step_index != state.step_index or s.phase != PROGRESSING,
            "promote-full": lambda s: s.phase != PROGRESSING or ctx.store.pending_request(s.id) is None,
        }[what]
        return _wait_for(ctx, state.id, settled, wait)
    lock = _acquire(
        ctx, service, _lock_reason(what, service, state.version, state.id), take_over=not holder_alive(lock)
    )

    def act(engine: Engine) -> None:
        record = dict(actor=ctx.actor, action=what)
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
            skip = 1 if current and current["kind"] == "pause" else 0
            state.steps, state.step_index = st.fast_promote_plan(state.steps, state.step_index + skip), 0
            ctx.store.event("rollout.promote", state, outcome="full", **record)
        elif what == "promote" and current and current["kind"] == "pause":
            state.step_index += 1
            ctx.store.event("rollout.promote", state, outcome="step-skipped", **record)
        if state.phase == PAUSED:
            if what in ("resume", "promote"):  # a human looked at the inconclusive rounds: they count afresh
                tally = Tally.from_dict(state.analysis)
                tally.forgive_inconclusive()
                state.analysis = tally.to_dict()
            state.move(PROGRESSING, f"{what} by {ctx.actor}")
        ctx.store.save(state)

    return _run_locked(ctx, state, lock, before=act)


# rollback ------------------------------------------------------------------------------------------------


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
    weights, running = _live(ctx, service, read_only=True)
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
    from coursectl.api import finisher  # i18: returns at the switch; the retire goes to a detached finisher

    ctx.service(service)
    finisher.settle(ctx, service)
    _rollback_precheck(ctx, service, to_version)
    held = ctx.ledger.lock_info(ctx.env_name, service)
    lock = _acquire(ctx, service, _lock_reason("rollback", service, to_version or "previous", "-"), take_over=True)
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
            switched = outcome[0] == "succeeded"
            if not switched:
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
        weights, running = _live(ctx, service)
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
        common = dict(
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
                in_place=_in_place(ctx, ctx.env.strategy),
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
    from coursectl.domain import utcnow

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


# status --------------------------------------------------------------------------------------------------


def _probe(host: str, port: int, path: str, timeout: float = 0.5) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


def _read_all(
    rig: Any, names: Sequence[str], edge_up: bool
) -> tuple[dict[str, dict[str, int]] | None, dict[str, list[Any]] | None]:
    """Every service's weights (one edge command) and slots (one engine listing) when the adapters offer it;
    None for what is to be read service by service."""
    weights = slots = None
    if edge_up and hasattr(rig.router, "all_weights"):
        try:
            weights = rig.router.all_weights()
        except Exception:  # read (and reported) service by service below
            weights = None
    if hasattr(rig.target, "all_slots"):
        try:
            slots = rig.target.all_slots(names)
        except Exception:
            slots = None
    return weights, slots


def _probe_all(checks: Sequence[tuple[Any, str]]) -> dict[tuple[str, int, str], bool]:
    """GET each slot's health path at once (a thread each): (host, port, path) → answered 200."""
    wanted = list(dict.fromkeys((slot.host, slot.port, path) for slot, path in checks))
    if len(wanted) <= 1:
        return {key: _probe(*key) for key in wanted}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(wanted))) as pool:
        return dict(zip(wanted, pool.map(lambda key: _probe(*key), wanted), strict=True))


def rollout_status(ctx: RolloutContext, service: str) -> dict[str, Any]:
    """The latest rollout of ``service`` as data (phase, step, weights, last measurements, lock)."""
    state = ctx.store.latest(ctx.env_name, service)
    lock = ctx.ledger.lock_info(ctx.env_name, service)
    if state is None:
        return {
            "service": service,
            "environment": ctx.env_name,
            "rollout": None,
            "lock": lock.to_dict() if lock else None,
        }
    step = state.current_step
    return {
        "service": service,
        "environment": ctx.env_name,
        "rollout": {
            "id": state.id,
            "kind": state.kind,
            "strategy": state.strategy,
            "version": state.version,
            "from_version": state.from_version or state.stable_version,
            "phase": state.phase,
            "message": state.message,
            "step": state.step_index,
            "steps": len(state.steps),
            "current_step": st.describe(step) if step else None,
            "weights": state.weights(),
            "new_slot": state.new_slot,
            "stable_slot": state.stable_slot,
            "analysis": state.analysis,
            "last_round": _last_round(state),
            "measurements": state.measurements[-6:],
            "started_at": state.started_at,
            "updated_at": state.updated_at,
            "finished_at": state.finished_at,
            "actor": state.actor,
            "plan": [st.describe(s) for s in state.steps],
        },
        "lock": dict(lock.to_dict(), alive=holder_alive(lock)) if lock else None,
    }


def _last_round(state: RolloutState) -> dict[str, Any] | None:
    """The newest analysis round: its number, weight, verdict and one line with every metric."""
    found = last_round([Measurement.from_dict(m) for m in state.measurements])
    if not found:
        return None
    first = found[0]
    return {
        "round": first.round,
        "at": first.at,
        "weight": first.weight,
        "verdicts": {m.metric: m.verdict for m in found},
        "requests": first.requests,
        "no_traffic": any(m.no_traffic for m in found),
        "line": round_line(found),
    }


def status(ctx: RolloutContext, services: Sequence[str] | None = None) -> dict[str, Any]:
    """Per service: live version, digest, slots, weights, health, lock — without Prometheus or the registry."""
    from coursectl.api.finisher import describe_leftovers

    rig = ctx.rig(OBSERVE)
    names = list(services or sorted(ctx.config.services))
    for name in names:
        ctx.service(name)
    snap = rig.snapshot(names) if getattr(rig, "snapshot", None) else None  # one read per kind (kubernetes)
    probe = getattr(rig, "probe_slots", True)
    problems: list[str] = []
    edge_up = True
    try:
        edge_up = rig.router.running() if hasattr(rig.router, "running") else True
    except Exception:
        edge_up = False
    if not edge_up and snap is None:
        problems.append("the edge is not running")
    if hasattr(rig.router, "port_problems"):
        problems.extend(rig.router.port_problems())
    # i18: one round trip to the edge and one to the engine for every service, when the adapters can
    every_weight, every_slot = _read_all(rig, names, edge_up and snap is None)
    out = []
    rows: list[tuple[str, Any, list[Any], dict[str, int]]] = []
    for name in names:
        svc = ctx.service(name)
        weights: dict[str, int] = {}
        if snap is not None:
            slots, weights = snap[name]
        else:
            try:
                if every_weight is not None:
                    weights = every_weight.get(name, {})
                else:
                    weights = rig.router.weights(name) if edge_up else {}
            except Exception as exc:
                problems.append(f"{name}: edge: {exc}")
            try:
                slots = every_slot[name] if every_slot is not None else rig.target.slots(name)
            except Exception as exc:
                slots = []
                problems.append(f"{name}: target: {getattr(exc, 'message', exc)}")
        rows.append((name, svc, slots, weights))
    checks = [(s, svc.health) for _, svc, slots, _ in rows for s in slots if s.running] if probe else []
    health_of = _probe_all(checks)
    for name, svc, slots, weights in rows:
        live = live_slot(weights, sorted(s.slot for s in slots if s.running))
        by_slot = {s.slot: s for s in slots}
        if live and live not in by_slot:
            problems.append(f"{name}: the edge sends traffic to {live}, which the target does not run")
            live = None
        slot_rows = []
        for s in slots:
            healthy = s.running and (health_of.get((s.host, s.port, svc.health), False) if probe else s.ready)
            slot_rows.append(dict(s.to_dict(), healthy=healthy, weight=weights.get(s.slot, 0)))
        health = (
            "down"
            if not slots
            else ("healthy" if all(r["healthy"] for r in slot_rows if r["weight"] > 0) and live else "degraded")
        )
        lock = ctx.ledger.lock_info(ctx.env_name, name)
        active = ctx.store.active(ctx.env_name, name)
        out.append(
            {
                "name": name,
                "version": by_slot[live].version if live else None,
                "digest": by_slot[live].digest if live else None,
                "slots": slot_rows,
                "weights": weights,
                "health": health,
                "lock": dict(lock.to_dict(), alive=holder_alive(lock)) if lock else None,
                "rollout": {"id": active.id, "phase": active.phase, "version": active.version,
                            "finishing": describe_leftovers(active)} if active else None,
            }
        )
    return {"environment": ctx.env_name, "edge_url": rig.edge_url, "services": out, "problems": problems}
