"""Rollout plans as data: typed steps, the step list of each strategy, of an abort, of a rollback.

A plan is a short list of idempotent steps, like Argo Rollouts' canary steps::

    [Start("canary"), WaitReady("canary"), Smoke("canary"), WaitObserved("canary"),
     SetWeight(20), Pause(60.0, analyze=True), SetWeight(100), Start("stable"), WaitReady("stable"),
     SetWeight(0), Promote(), Retire("canary")]

Progress is an index into it, persisted before each step runs, so a rollout resumes at the step it was on.
In the ledger a step is a JSON object named by its ``kind`` (``to_dict`` / ``from_dict``; the format is the one
coursectl has always stored):

    start    {slot, which: new|stable-old}  run a version in a slot (the new one, or the old stable version)
    ready    {slot}                         wait until the slot is ready
    smoke    {slot}                         GET the smoke paths on the slot directly
    observed {slot}                         wait (bounded) until the metrics provider has scraped the slot twice,
                                            so no user reaches a slot whose metrics are not collected yet
    weight   {weight}                       route ``weight`` % to the new slot, the rest to the stable slot
    pause    {duration, analyze}            wait (None = until a human resumes); analyse at every interval
    promoted {}                             mark the new version as promoted (recorded in the ledger)
    delay    {duration}                     wait without analysis (blue-green scale-down delay)
    retire   {slot}                         remove the slot from the router and stop it
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Which = Literal["new", "stable-old"]


@dataclass(frozen=True)
class Start:
    """Run a version in ``slot``: the rollout's new version, or (on the way back) the old stable one."""

    slot: str
    which: Which = "new"
    kind: ClassVar[str] = "start"


@dataclass(frozen=True)
class WaitReady:
    """Wait until ``slot`` answers its readiness check."""

    slot: str
    kind: ClassVar[str] = "ready"


@dataclass(frozen=True)
class Smoke:
    """GET the service's smoke paths on ``slot`` directly, before any user reaches it."""

    slot: str
    kind: ClassVar[str] = "smoke"


@dataclass(frozen=True)
class WaitObserved:
    """Wait (bounded) until the metrics provider has scraped ``slot`` twice."""

    slot: str
    kind: ClassVar[str] = "observed"


@dataclass(frozen=True)
class SetWeight:
    """Route ``weight`` % of the traffic to the new slot, the rest to the stable slot."""

    weight: int
    kind: ClassVar[str] = "weight"

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= 100:
            raise StepError(f"a weight is a percentage from 0 to 100, not {self.weight}")


@dataclass(frozen=True)
class Pause:
    """Wait ``duration`` seconds (None: until a human resumes); with ``analyze``, analyse at every interval."""

    duration: float | None
    analyze: bool = False
    kind: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Promote:
    """Mark the new version as promoted (recorded in the ledger)."""

    kind: ClassVar[str] = "promoted"


@dataclass(frozen=True)
class Delay:
    """Keep the old slot warm ``duration`` seconds, without analysis (blue-green's scale-down delay)."""

    duration: float
    kind: ClassVar[str] = "delay"


@dataclass(frozen=True)
class Retire:
    """Take ``slot`` out of the routing, then stop it."""

    slot: str
    kind: ClassVar[str] = "retire"


Step = Start | WaitReady | Smoke | WaitObserved | SetWeight | Pause | Promote | Delay | Retire

KINDS: dict[str, type[Step]] = {
    cls.kind: cls for cls in (Start, WaitReady, Smoke, WaitObserved, SetWeight, Pause, Promote, Delay, Retire)
}


class StepError(ValueError):
    """A step that cannot be built or read (an unknown kind, a missing or wrong field)."""


def describe(step: Step) -> str:
    """One line for a step, for plans, logs and the ledger."""
    match step:
        case Start(slot=slot, which=which):
            what = "old stable version" if which == "stable-old" else "new version"
            return f"start the {what} in {slot}"
        case WaitReady(slot=slot):
            return f"wait until {slot} is ready"
        case Smoke(slot=slot):
            return f"smoke-check {slot} directly"
        case WaitObserved(slot=slot):
            return f"wait until the metrics provider scrapes {slot}"
        case SetWeight(weight=weight):
            return f"route {weight}% to the new slot"
        case Pause(duration=duration, analyze=analyze):
            length = "until resumed" if duration is None else f"{duration:g} s"
            return f"pause {length}" + (" with analysis" if analyze else "")
        case Promote():
            return "record the promotion"
        case Delay(duration=duration):
            return f"keep the old slot warm for {duration:g} s"
        case Retire(slot=slot):
            return f"retire {slot}"
        case _:
            return repr(step)


def to_dict(step: Step) -> dict[str, Any]:
    """The step as the ledger stores it: ``{"kind": ..., <fields>}``."""
    fields = {name: getattr(step, name) for name in step.__dataclass_fields__}
    return {"kind": step.kind, **fields}


def from_dict(data: Mapping[str, Any]) -> Step:
    """A step from its stored form (every form coursectl has written); StepError for one it cannot read."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    try:
        match kind:
            case "start":
                which: Which = "stable-old" if data.get("which") == "stable-old" else "new"
                return Start(_text(data["slot"]), which)
            case "ready":
                return WaitReady(_text(data["slot"]))
            case "smoke":
                return Smoke(_text(data["slot"]))
            case "observed":
                return WaitObserved(_text(data["slot"]))
            case "weight":
                return SetWeight(_int(data["weight"]))
            case "pause":
                duration = data.get("duration")
                return Pause(None if duration is None else _float(duration), bool(data.get("analyze")))
            case "promoted":
                return Promote()
            case "delay":
                return Delay(_float(data["duration"]))
            case "retire":
                return Retire(_text(data["slot"]))
    except KeyError as exc:
        raise StepError(f"rollout step {dict(data)!r} has no {exc.args[0]!r}") from None
    raise StepError(f"unknown rollout step {data!r} (known kinds: {', '.join(KINDS)})")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise StepError(f"a slot is a name, not {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise StepError(f"a weight is a whole number, not {value!r}")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StepError(f"a duration is a number of seconds, not {value!r}")
    return float(value)


STRATEGIES = ("recreate", "rolling", "blue-green", "canary")
PAIRS = {"blue-green": ("blue", "green"), "canary": ("stable", "canary")}


def pair_for(strategy: str) -> tuple[str, str]:
    """The two slot names of a strategy; recreate and rolling use the blue/green pair too."""
    return PAIRS.get(strategy, PAIRS["blue-green"])


def other(slot: str, strategy: str) -> str:
    a, b = pair_for(strategy)
    return b if slot == a else a


def first_deploy_plan(slot: str) -> list[Step]:
    """Nothing runs yet: start the first slot, check it, send it everything."""
    return [Start(slot), WaitReady(slot), Smoke(slot), SetWeight(100), Promote()]


def blue_green_plan(
    *,
    new: str,
    old: str,
    post_analysis: float | None,
    scale_down_delay: float,
    analyze: bool = True,
    retire_old: bool = True,
) -> list[Step]:
    """Start the new colour, check it directly, switch all traffic, analyse, keep the old one warm, retire it.

    ``retire_old=False`` ends the plan at the promotion with the old colour still warm: a release retires the
    old colours of all its services once it is good (a rollback meanwhile is one switch back)."""
    analysed = bool(analyze and post_analysis)
    plan: list[Step] = [Start(new), WaitReady(new), Smoke(new)]
    if analysed:
        plan.append(WaitObserved(new))
    plan.append(SetWeight(100))
    if analysed:
        plan.append(Pause(post_analysis, analyze=True))
    plan.append(Promote())
    if not retire_old:
        return plan
    if scale_down_delay:
        plan.append(Delay(scale_down_delay))
    plan.append(Retire(old))
    return plan


def canary_plan(
    *, stable: str, canary: str, steps: Sequence[tuple[int | None, float | None]], analyze: bool = True
) -> list[Step]:
    """Start the canary, walk the (weight, pause) steps with analysis, then promote.

    Promotion keeps traffic served throughout: everything to the canary, the stable slot restarted with the
    new version, everything back to the stable slot, canary retired.
    """
    plan: list[Step] = [Start(canary), WaitReady(canary), Smoke(canary)]
    if analyze:
        plan.append(WaitObserved(canary))
    for weight, pause in steps:
        if weight is not None:
            if weight >= 100:
                break
            plan.append(SetWeight(weight))
        if pause is not None or weight is None:
            plan.append(Pause(pause, analyze=analyze))
    plan += promotion_plan(stable=stable, canary=canary)
    return plan


def promotion_plan(*, stable: str, canary: str) -> list[Step]:
    """The tail of a canary: move the new version into the stable slot without dropping traffic."""
    return [SetWeight(100), Start(stable), WaitReady(stable), SetWeight(0), Promote(), Retire(canary)]


def in_place_plan(slot: str) -> list[Step]:
    """Rolling / recreate by the target's own update (a Kubernetes Deployment's strategy): the new version
    replaces the old one in the live slot, watched until ready; then the usual checks."""
    return [Start(slot), WaitReady(slot), Smoke(slot), SetWeight(100), Promote()]


def recreate_plan(slot: str, old: str | None) -> list[Step]:
    """Recreate/rolling on one host: a new slot beside the old one, switch, retire the old (no analysis)."""
    if old is None:
        return first_deploy_plan(slot)
    return blue_green_plan(new=slot, old=old, post_analysis=None, scale_down_delay=0, analyze=False)


def warm_switch_plan(*, to_slot: str, from_slot: str) -> list[Step]:
    """Rollback to a warm slot already running the wanted version: one switch, then retire the bad slot."""
    return [WaitReady(to_slot), SetWeight(100), Promote(), Retire(from_slot)]


def abort_plan(*, strategy: str, stable: str | None, new: str, stable_replaced: bool) -> list[Step]:
    """Send everything back to the stable slot and remove the new one.

    When a canary promotion had already restarted the stable slot with the new version, the old version is
    started there again first, with traffic on the canary slot meanwhile, so traffic always has somewhere to go.
    """
    if stable is None:  # a first deployment has nothing to go back to: keep it serving, mark aborted
        return []
    if new == stable:  # an in-place update: the old version goes back into the same slot
        return [Start(stable, "stable-old"), WaitReady(stable)] if stable_replaced else []
    plan: list[Step] = []
    if stable_replaced:
        plan += [SetWeight(100), Start(stable, "stable-old"), WaitReady(stable)]
    plan += [SetWeight(0), Retire(new)]
    return plan


def fast_promote_plan(plan: Sequence[Step], index: int) -> list[Step]:
    """``promote --full``: the remaining steps without pauses and analyses (recorded with the actor)."""
    return [step for step in plan[index:] if not isinstance(step, Pause)]
