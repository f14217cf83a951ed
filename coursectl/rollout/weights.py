"""Pure traffic-weight arithmetic: percent splits between slots and HAProxy server weights."""

from __future__ import annotations

from collections.abc import Mapping

HAPROXY_MAX_WEIGHT = 256


def split(new_slot: str, stable_slot: str | None, weight: int) -> dict[str, int]:
    """Percent per slot when ``weight`` percent goes to ``new_slot`` and the rest to ``stable_slot``.

    Without a stable slot (a first deployment) the new slot takes everything whatever the weight.
    """
    if not 0 <= weight <= 100:
        raise ValueError(f"weight must be 0..100, got {weight}")
    if stable_slot is None or stable_slot == new_slot:
        return {new_slot: 100}
    return {new_slot: weight, stable_slot: 100 - weight}


def to_server_weights(percents: Mapping[str, int]) -> dict[str, int]:
    """HAProxy server weights (0..256) for percents; only the ratio matters, 0 stays 0 (drained)."""
    total = sum(percents.values())
    if total <= 0:
        raise ValueError("at least one slot needs a weight above 0")
    return {slot: round(HAPROXY_MAX_WEIGHT * pct / total) if pct else 0 for slot, pct in percents.items()}


def to_percents(server_weights: Mapping[str, int]) -> dict[str, int]:
    """Percent per slot from live server weights (largest remainder, so they sum to exactly 100)."""
    total = sum(max(0, w) for w in server_weights.values())
    if total == 0:
        return {slot: 0 for slot in server_weights}
    raw = {slot: 100 * max(0, w) / total for slot, w in server_weights.items()}
    floors = {slot: int(value) for slot, value in raw.items()}
    left = 100 - sum(floors.values())
    for slot in sorted(raw, key=lambda s: (floors[s] - raw[s], s))[:left]:
        floors[slot] += 1
    return floors


def same_split(live: Mapping[str, int], wanted: Mapping[str, int], *, tolerance: int = 1) -> bool:
    """Whether live percents match wanted ones (slots missing from one side count as 0)."""
    slots = set(live) | set(wanted)
    return all(abs(live.get(s, 0) - wanted.get(s, 0)) <= tolerance for s in slots)


def canary_weights(steps: list[int | None]) -> list[int]:
    """The weights a canary will carry, in order, ending at 100 (promotion); pause-only steps keep the last."""
    out: list[int] = []
    current = 0
    for weight in steps:
        if weight is not None:
            current = weight
        out.append(current)
    if not out or out[-1] != 100:
        out.append(100)
    return out
