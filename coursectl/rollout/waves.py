"""The waves of a multi-service release (pure): order from groups and dependencies, and worst-case timing.

A release rolls its services out in *waves*: the services of one wave in parallel (at most ``parallel`` at a
time), one wave after the other. The order comes from the configuration:

* ``release.order``: a list of groups; a service goes no earlier than its group (services not named in any
  group join the last one);
* ``services.<name>.depends_on``: a service goes in a later wave than every service it depends on.

Both may be given; a service's wave is the latest either asks for. Only the services being released are
placed, but the order between them follows dependencies through the others (A → B → C, releasing A and C:
C before A). Empty waves are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from coursectl.rollout import steps as st


class WaveError(ValueError):
    """An order that cannot be planned: an unknown service, a service named twice, a dependency cycle.
    ``key`` names the configuration key at fault (``release.order[1]``, ``services.course.depends_on``)."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def check_order(
    services: Sequence[str], order: Sequence[Sequence[str]], depends_on: Mapping[str, Sequence[str]]
) -> None:
    """WaveError naming the key when the order names an unknown service or a service twice, a dependency is
    unknown or on itself, or the dependencies form a cycle (the cycle is named)."""
    known = set(services)
    seen: dict[str, int] = {}
    for i, group in enumerate(order):
        if not group:
            raise WaveError(f"release.order[{i}]", "an empty group")
        for name in group:
            if name not in known:
                raise WaveError(
                    f"release.order[{i}]", f"unknown service {name!r} (services: {', '.join(sorted(known))})"
                )
            if name in seen:
                raise WaveError(f"release.order[{i}]", f"{name!r} is already in release.order[{seen[name]}]")
            seen[name] = i
    for name, deps in depends_on.items():
        for dep in deps:
            if dep not in known:
                raise WaveError(f"services.{name}.depends_on", f"unknown service {dep!r}")
            if dep == name:
                raise WaveError(f"services.{name}.depends_on", "a service cannot depend on itself")
    cycle = _cycle(services, depends_on)
    if cycle:
        raise WaveError(f"services.{cycle[0]}.depends_on", "a dependency cycle: " + " → ".join(cycle))
    for name, deps in depends_on.items():  # a dependency in a later group than its dependant cannot be honoured
        for dep in deps:
            if name in seen and dep in seen and seen[dep] > seen[name]:
                raise WaveError(
                    f"services.{name}.depends_on",
                    f"{name} (release.order[{seen[name]}]) depends on {dep}, which release.order puts later"
                    f" (release.order[{seen[dep]}])",
                )


def _cycle(services: Sequence[str], depends_on: Mapping[str, Sequence[str]]) -> list[str]:
    """One dependency cycle as [a, b, ..., a], or [] (depth-first search, in sorted order: deterministic)."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(services, white)
    path: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = grey
        path.append(node)
        for dep in sorted(depends_on.get(node, ())):
            if colour.get(dep, black) == grey:
                return [*path[path.index(dep) :], dep]
            if colour.get(dep, black) == white:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        colour[node] = black
        return []

    for name in sorted(services):
        if colour[name] == white:
            found = visit(name)
            if found:
                return found
    return []


def plan_waves(
    services: Sequence[str],
    selected: Sequence[str],
    *,
    order: Sequence[Sequence[str]] = (),
    depends_on: Mapping[str, Sequence[str]] | None = None,
) -> list[list[str]]:
    """The waves that release ``selected`` (a subset of ``services``), each wave sorted by name.

    Without an order or dependencies, every selected service is in one wave.
    """
    deps = {name: list(d) for name, d in (depends_on or {}).items()}
    check_order(services, order, deps)
    group = {name: i for i, g in enumerate(order) for name in g}
    last_group = max(len(order) - 1, 0)
    rank: dict[str, int] = {}

    def rank_of(name: str) -> int:
        if name not in rank:
            own = group.get(name, last_group if order else 0)
            rank[name] = max([own, *(rank_of(d) + 1 for d in deps.get(name, ()))])
        return rank[name]

    by_rank: dict[int, list[str]] = {}
    for name in selected:
        if name not in services:
            raise WaveError("services", f"unknown service {name!r}")
        by_rank.setdefault(rank_of(name), []).append(name)
    return [sorted(set(by_rank[r])) for r in sorted(by_rank)]


def worst_case_steps(steps: Sequence[st.Step], *, ready_timeout: float, step_overhead: float = 1.0) -> float:
    """The longest a rollout's steps may take: every readiness wait to its time-out, every pause and delay to
    its end, ``step_overhead`` seconds for each other step. ``math.inf`` when a pause waits for a human."""
    total = 0.0
    for step in steps:
        match step:
            case st.WaitReady():
                total += ready_timeout
            case st.Pause(duration=None):
                return math.inf
            case st.Pause(duration=float() | int() as duration) | st.Delay(duration=duration):
                total += float(duration)
            case _:
                total += step_overhead
    return total


def worst_case_release(waves: Sequence[Sequence[str]], durations: Mapping[str, float], parallel: int) -> float:
    """The longest the waves may take with ``parallel`` workers: within a wave the services start in order as
    workers free up (greedy list scheduling); each wave starts when the previous one has finished."""
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    total = 0.0
    for wave in waves:
        free = [0.0] * min(parallel, max(len(wave), 1))
        for name in wave:
            i = free.index(min(free))
            free[i] += durations.get(name, 0.0)
        total += max(free, default=0.0)
    return total


def rollback_order(waves: Sequence[Sequence[str]], promoted: Sequence[str]) -> list[list[str]]:
    """The promoted services grouped by wave, the last wave first: the order a release is undone in."""
    done = set(promoted)
    return [[n for n in reversed(wave) if n in done] for wave in reversed(waves) if done & set(wave)]
