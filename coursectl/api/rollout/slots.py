"""What a service's slots run now, with what they would be started: live state, environment, fingerprint."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from coursectl.api.rollout.context import ROLLOUT, Live, RolloutContext
from coursectl.domain import SlotState
from coursectl.rollout.fingerprint import slot_fingerprint
from coursectl.rollout.plan import live_slot
from coursectl.rollout.state import RolloutState

log = logging.getLogger(__name__)


def live_state(ctx: RolloutContext, service: str, need: str = ROLLOUT, *, read_only: bool = False) -> Live:
    """Live weights and running slots, reconciled: a slot the router knows but the target does not run (a
    container removed by hand) is taken out of the routing first, so plans only ever build on what runs.
    ``read_only`` (a dry run): nothing is started, written or removed; the weights are the live ones, or those a
    stopped edge would come back with."""
    rig = ctx.rig(need)
    router = rig.router
    if read_only:
        running_now = {s.slot: s for s in rig.target.slots(service) if s.running}
        return {slot: w for slot, w in router.planned_weights(service).items() if slot in running_now}, running_now
    router.ensure_running()
    weights = router.weights(service)
    running = {s.slot: s for s in rig.target.slots(service) if s.running}
    stale = [slot for slot in weights if slot not in running]
    for slot in stale:
        log.warning("%s: the edge routes to %s, which does not run: removing it from the edge", service, slot)
        router.remove(service, slot)
    if stale:  # a router that cannot route nowhere (a Service keeps its selector) still names it: left out
        weights = {slot: w for slot, w in router.weights(service).items() if slot in running}
    return weights, running


def slot_env(ctx: RolloutContext, service: str) -> dict[str, str]:
    """The environment of a slot: every service reached through the edge (``<SERVICE>_URL``, so calls follow
    the live slot), then the service's own ``env`` from the configuration, then (docker and process targets) its
    ``secrets`` resolved from the environment, a file or the state directory's secrets.env (AuthError naming one
    that is not set)."""
    edge = f"http://{ctx.env.edge.bind}"
    urls: Mapping[str, str] = ctx.any_rig().target.service_urls() or {
        f"{n.upper()}_URL": edge for n in ctx.config.services
    }
    svc = ctx.service(service)
    secrets: dict[str, str] = {}
    if ctx.env.target != "kubernetes":  # there the pods read them from a Secret (render/kubernetes.py)
        secrets_file = ctx.state_dir / "secrets.env"
        secrets = {name: ref.resolve(secrets_file=secrets_file) for name, ref in svc.secrets.items()}
    return {**urls, **dict(svc.env), **secrets}


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
    ctx: RolloutContext, state: RolloutState, weights: Mapping[str, int], running: Mapping[str, SlotState]
) -> str | None:
    """The slot that already serves all traffic with the release ``state`` would roll out — the same
    version, image and environment (the fingerprint recorded on the slot) — else None."""
    live = live_slot(weights, sorted(running))
    if live is None or weights.get(live) != 100:
        return None
    slot = running[live]
    if slot.version != state.version or (state.digest and slot.digest not in (None, state.digest)):
        return None
    if not ctx.any_rig().target.records_fingerprints:  # a target that keeps its own (kubernetes' template hash)
        return live
    return live if slot.fingerprint == wanted_fingerprint(ctx, state) else None
