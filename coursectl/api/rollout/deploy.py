"""Deploy a service: its rollout planned from what runs now, run to its end under the deploy lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from coursectl.api.rollout.context import OBSERVE, ROLLOUT, RolloutContext
from coursectl.api.rollout.locking import acquire, lock_reason, run_locked
from coursectl.api.rollout.slots import already_live, live_state
from coursectl.domain import LedgerEvent, SlotState
from coursectl.errors import PreconditionError, RolloutFailed
from coursectl.rollout.plan import live_slot, plan_rollout
from coursectl.rollout.state import ABORTED, FAILED, SUCCEEDED, RolloutState

if TYPE_CHECKING:
    from coursectl.config.models import Config


def image_for(config: Config, service: str, version: str) -> str:
    """The image reference of a version in the configuration's registry."""
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


def in_place(ctx: RolloutContext, strategy: str) -> bool:
    """Whether the target runs ``strategy`` by updating the live slot itself (kubernetes rolling/recreate)."""
    return strategy in ctx.any_rig().target.in_place


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
    keep_old_warm: bool = False,
) -> RolloutState:
    """The rollout a deploy would run, from the live state (``read_only``: a dry run, which changes nothing)."""
    ctx.service(service)
    weights, running = live_state(ctx, service, need, read_only=read_only)
    return _plan(
        ctx, service, weights, running,
        version=version, digest=digest, strategy=strategy, set_env=set_env, hotfix=hotfix,
        keep_old_warm=keep_old_warm,
    )  # fmt: skip


def _plan(
    ctx: RolloutContext,
    service: str,
    weights: Mapping[str, int],
    running: Mapping[str, SlotState],
    *,
    version: str | None,
    digest: str | None,
    strategy: str | None,
    set_env: Mapping[str, str] | None,
    hotfix: bool,
    keep_old_warm: bool = False,
) -> RolloutState:
    env = ctx.env
    artifact = resolve_artifact(ctx, service, version, digest)
    steps = [(s.weight, s.pause) for s in env.steps] or default_canary_steps(ctx.config.analysis.interval)
    return plan_rollout(
        environment=ctx.env_name,
        service=service,
        version=artifact["version"],
        strategy=strategy or env.strategy,
        in_place=in_place(ctx, strategy or env.strategy),
        weights=weights,
        running=running,
        canary_steps=steps,
        post_analysis=env.post_promotion_analysis,
        scale_down_delay=env.scale_down_delay,
        keep_old_warm=keep_old_warm,
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
    ctx: RolloutContext, service: str, running: Mapping[str, SlotState], weights: Mapping[str, int]
) -> str | None:
    slot = live_slot(weights, sorted(running))
    return image_for(ctx.config, service, running[slot].version) if slot else None


def is_live(
    ctx: RolloutContext,
    service: str,
    *,
    version: str | None = None,
    digest: str | None = None,
    set_env: Mapping[str, str] | None = None,
) -> bool:
    """Whether a deploy of this release would be a no-op (reads only)."""
    weights, running = live_state(ctx, service, OBSERVE)
    state = _plan(
        ctx, service, weights, running,
        version=version, digest=digest, strategy=None, set_env=set_env, hotfix=False,
    )  # fmt: skip
    return already_live(ctx, state, weights, running) is not None


def deploy(ctx: RolloutContext, service: str, *, lock_wait: float = 0.0, **options: Any) -> RolloutState:
    """Roll ``service`` out; RolloutFailed (exit 7) when it ends aborted, LockHeld (exit 8) when locked.

    The same version, image and environment as the live slot is a reported no-op (``unchanged``); the same
    version with another environment (``set_env``, a changed ``env`` in the configuration) is a new release,
    rolled out with the environment's strategy. ``keep_old_warm`` (releases): a blue-green rollout ends at its
    promotion and leaves the old colour running for ``retire_warm``.
    """
    from coursectl.api import finisher  # a rollback's leftovers are finished before anything else

    finisher.settle(ctx, service)
    lock = acquire(
        ctx, service, lock_reason("deploy", service, str(options.get("version") or ""), "-"), wait=lock_wait
    )
    try:
        active = ctx.store.active(ctx.env_name, service)
        if active is not None:
            raise PreconditionError(
                f"rollout {active.id} of {service} {active.version} is {active.phase}: {active.message}",
                hint=f"coursectl rollout resume|abort {service} --env {ctx.env_name}",
            )
        ctx.service(service)
        weights, running = live_state(ctx, service, ROLLOUT)
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
            keep_old_warm=bool(options.get("keep_old_warm")),
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
    final = run_locked(ctx, state, lock)
    return _enforce(final)


def _enforce(state: RolloutState) -> RolloutState:
    if state.phase in (ABORTED, FAILED):
        raise RolloutFailed(
            f"rollout of {state.service} {state.version} {state.phase}: {state.message}",
            hint=f"coursectl history {state.service} --env {state.environment} -k rollout.measurement",
            details={"rollout_id": state.id, "phase": state.phase, "analysis": state.analysis},
        )
    return state
