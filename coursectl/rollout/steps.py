"""Rollout steps as data, and the plans (ordered step lists) of each strategy, abort and rollback.

A plan is a short list of idempotent steps, like Argo Rollouts' canary steps. Progress is an index into it,
persisted before each step runs, so a rollout resumes at the step it was on.

Step kinds:
    start    {slot, which: new|stable-old}  run a version in a slot (the new one, or the old stable version)
    ready    {slot}                         wait until the slot is ready
    smoke    {slot}                         GET the smoke paths on the slot directly
    weight   {weight}                       route ``weight`` % to the new slot, the rest to the stable slot
    pause    {duration, analyze}            wait (None = until a human resumes); analyse at every interval
    promoted {}                             mark the new version as promoted (recorded in the ledger)
    delay    {duration}                     wait without analysis (blue-green scale-down delay)
    retire   {slot}                         remove the slot from the router and stop it
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Step = dict[str, Any]

STRATEGIES = ("recreate", "rolling", "blue-green", "canary")
PAIRS = {"blue-green": ("blue", "green"), "canary": ("stable", "canary")}


def pair_for(strategy: str) -> tuple[str, str]:
    """The two slot names of a strategy; recreate and rolling use the blue/green pair too."""
    return PAIRS.get(strategy, PAIRS["blue-green"])


def other(slot: str, strategy: str) -> str:
    a, b = pair_for(strategy)
    return b if slot == a else a


def describe(step: Step) -> str:
    """One line for a step, for plans, logs and the ledger."""
    kind = step["kind"]
    if kind == "start":
        what = "old stable version" if step.get("which") == "stable-old" else "new version"
        return f"start the {what} in {step['slot']}"
    if kind == "ready":
        return f"wait until {step['slot']} is ready"
    if kind == "smoke":
        return f"smoke-check {step['slot']} directly"
    if kind == "weight":
        return f"route {step['weight']}% to the new slot"
    if kind == "pause":
        duration = step.get("duration")
        length = "until resumed" if duration is None else f"{duration:g} s"
        return f"pause {length}" + (" with analysis" if step.get("analyze") else "")
    if kind == "promoted":
        return "record the promotion"
    if kind == "delay":
        return f"keep the old slot warm for {step['duration']:g} s"
    if kind == "retire":
        return f"retire {step['slot']}"
    return kind


def first_deploy_plan(slot: str) -> list[Step]:
    """Nothing runs yet: start the first slot, check it, send it everything."""
    return [
        {"kind": "start", "slot": slot, "which": "new"},
        {"kind": "ready", "slot": slot},
        {"kind": "smoke", "slot": slot},
        {"kind": "weight", "weight": 100},
        {"kind": "promoted"},
    ]


def blue_green_plan(
    *, new: str, old: str, post_analysis: float | None, scale_down_delay: float, analyze: bool = True
) -> list[Step]:
    """Start the new colour, check it directly, switch all traffic, analyse, keep the old one warm, retire it."""
    plan: list[Step] = [
        {"kind": "start", "slot": new, "which": "new"},
        {"kind": "ready", "slot": new},
        {"kind": "smoke", "slot": new},
        {"kind": "weight", "weight": 100},
    ]
    if analyze and post_analysis:
        plan.append({"kind": "pause", "duration": post_analysis, "analyze": True})
    plan.append({"kind": "promoted"})
    if scale_down_delay:
        plan.append({"kind": "delay", "duration": scale_down_delay})
    plan.append({"kind": "retire", "slot": old})
    return plan


def canary_plan(
    *, stable: str, canary: str, steps: Sequence[tuple[int | None, float | None]], analyze: bool = True
) -> list[Step]:
    """Start the canary, walk the (weight, pause) steps with analysis, then promote.

    Promotion keeps traffic served throughout: everything to the canary, the stable slot restarted with the
    new version, everything back to the stable slot, canary retired.
    """
    plan: list[Step] = [
        {"kind": "start", "slot": canary, "which": "new"},
        {"kind": "ready", "slot": canary},
        {"kind": "smoke", "slot": canary},
    ]
    for weight, pause in steps:
        if weight is not None:
            if weight >= 100:
                break
            plan.append({"kind": "weight", "weight": weight})
        if pause is not None or weight is None:
            plan.append({"kind": "pause", "duration": pause, "analyze": analyze})
    plan += promotion_plan(stable=stable, canary=canary)
    return plan


def promotion_plan(*, stable: str, canary: str) -> list[Step]:
    """The tail of a canary: move the new version into the stable slot without dropping traffic."""
    return [
        {"kind": "weight", "weight": 100},
        {"kind": "start", "slot": stable, "which": "new"},
        {"kind": "ready", "slot": stable},
        {"kind": "weight", "weight": 0},
        {"kind": "promoted"},
        {"kind": "retire", "slot": canary},
    ]


def in_place_plan(slot: str) -> list[Step]:
    """Rolling / recreate by the target's own update (a Kubernetes Deployment's strategy): the new version
    replaces the old one in the live slot, watched until ready; then the usual checks."""
    return [
        {"kind": "start", "slot": slot, "which": "new"},
        {"kind": "ready", "slot": slot},
        {"kind": "smoke", "slot": slot},
        {"kind": "weight", "weight": 100},
        {"kind": "promoted"},
    ]


def recreate_plan(slot: str, old: str | None) -> list[Step]:
    """Recreate/rolling on one host: a new slot beside the old one, switch, retire the old (no analysis)."""
    if old is None:
        return first_deploy_plan(slot)
    return blue_green_plan(new=slot, old=old, post_analysis=None, scale_down_delay=0, analyze=False)


def abort_plan(*, strategy: str, stable: str | None, new: str, stable_replaced: bool) -> list[Step]:
    """Send everything back to the stable slot and remove the new one.

    When a canary promotion had already restarted the stable slot with the new version, the old version is
    started there again first, with traffic on the canary slot meanwhile, so traffic always has somewhere to go.
    """
    if stable is None:  # a first deployment has nothing to go back to: keep it serving, mark aborted
        return []
    if new == stable:  # an in-place update: the old version goes back into the same slot
        return [{"kind": "start", "slot": stable, "which": "stable-old"}, {"kind": "ready", "slot": stable}] if (
            stable_replaced) else []
    plan: list[Step] = []
    if stable_replaced:
        plan += [
            {"kind": "weight", "weight": 100},
            {"kind": "start", "slot": stable, "which": "stable-old"},
            {"kind": "ready", "slot": stable},
        ]
    plan += [{"kind": "weight", "weight": 0}, {"kind": "retire", "slot": new}]
    return plan


def fast_promote_plan(plan: Sequence[Step], index: int) -> list[Step]:
    """``promote --full``: the remaining steps without pauses and analyses (recorded with the actor)."""
    return [step for step in plan[index:] if step["kind"] not in ("pause",)]
