"""Turn a request (service, version, strategy, environment settings) and the live state into a RolloutState."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from coursectl.rollout import steps as st
from coursectl.rollout.state import RolloutState


def live_slot(weights: Mapping[str, int], running: Sequence[str]) -> str | None:
    """The slot serving users: the heaviest routed slot, else a lone running slot, else None."""
    routed = [(w, s) for s, w in weights.items() if w > 0]
    if routed:
        return max(routed)[1]
    return running[0] if len(running) == 1 else None


def plan_rollout(
    *,
    environment: str,
    service: str,
    version: str,
    strategy: str,
    weights: Mapping[str, int],
    running: Mapping[str, Any],
    canary_steps: Sequence[tuple[int | None, float | None]] = (),
    post_analysis: float | None = None,
    scale_down_delay: float = 0.0,
    analyze: bool = True,
    kind: str = "deploy",
    in_place: bool = False,
    keep_old_warm: bool = False,
    **fields: Any,
) -> RolloutState:
    """The rollout of ``version``; ``running`` maps slot → SlotState-like (version, digest, ...) of live slots.

    ``in_place``: rolling and recreate update the live slot itself (the target's own strategy, e.g. a
    Kubernetes Deployment's) instead of switching to the other slot. ``keep_old_warm``: a blue-green rollout
    ends at its promotion, the old colour still running (a release retires it at its end).
    """
    if strategy not in st.STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    stable = live_slot(weights, sorted(running))
    first, second = st.pair_for(strategy)
    if stable is None:
        new = first
        plan = st.first_deploy_plan(new)
    elif strategy == "canary":
        new = second if stable != second else first
        plan = st.canary_plan(stable=stable, canary=new, steps=canary_steps, analyze=analyze)
    elif strategy == "blue-green":
        new = st.other(stable, strategy) if stable in (first, second) else first
        plan = st.blue_green_plan(
            new=new,
            old=stable,
            post_analysis=post_analysis,
            scale_down_delay=scale_down_delay,
            analyze=analyze,
            retire_old=not keep_old_warm,
        )
    elif in_place:
        new = stable
        plan = st.in_place_plan(stable)
    else:
        new = st.other(stable, strategy) if stable in (first, second) else first
        plan = st.recreate_plan(new, stable)
    stable_state = running.get(stable) if stable else None
    return RolloutState(
        environment=environment,
        service=service,
        strategy=strategy,
        version=version,
        new_slot=new,
        stable_slot=stable,
        steps=plan,
        kind=kind,
        stable_version=getattr(stable_state, "version", None),
        stable_digest=getattr(stable_state, "digest", None),
        **fields,
    )


def plan_warm_switch(
    *, environment: str, service: str, strategy: str, to_slot: str, from_slot: str, version: str, **fields: Any
) -> RolloutState:
    """Rollback to a warm slot already running the wanted version: one switch, then retire the bad slot."""
    return RolloutState(
        environment=environment,
        service=service,
        strategy=strategy,
        version=version,
        new_slot=to_slot,
        stable_slot=from_slot,
        steps=st.warm_switch_plan(to_slot=to_slot, from_slot=from_slot),
        kind="rollback",
        **fields,
    )
