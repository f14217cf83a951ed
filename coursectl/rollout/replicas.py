"""Pure replica arithmetic of a canary by replica ratio: how many pods each slot gets for a requested weight,
and the share of traffic that really is (Argo Rollouts' basic canary: the canary count is rounded up)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ReplicaSplit:
    """Pods of the new and the stable slot for a requested percentage to the new slot."""

    requested: int
    new: int
    stable: int

    @property
    def total(self) -> int:
        return self.new + self.stable

    @property
    def actual(self) -> float:
        """The share of pods (so of traffic, the Service balancing over both slots) in the new slot, percent."""
        return 100.0 * self.new / self.total if self.total else 0.0

    @property
    def actual_percent(self) -> int:
        """``actual`` rounded to a whole percent (how weights are reported)."""
        return int(math.floor(self.actual + 0.5))

    def describe(self) -> str:
        """``20 % requested → 1 of 5 pods = 20 %``."""
        return f"{self.requested} % requested → {self.new} of {self.total} pods = {self.actual:.3g} %"


def replica_split(total: int, weight: int) -> ReplicaSplit:
    """The split of ``total`` pods for ``weight`` percent to the new slot.

    0 and 100 put every pod in one slot. Between, the new slot gets ceil(total × weight / 100) pods, at least
    one, and the stable slot keeps at least one; with a single pod there is no ratio to make, so each slot gets
    one (50 %) — the plan says so.
    """
    if total < 1:
        raise ValueError(f"a service needs at least one pod, got {total}")
    if not 0 <= weight <= 100:
        raise ValueError(f"weight must be 0..100, got {weight}")
    if weight == 0:
        return ReplicaSplit(weight, 0, total)
    if weight == 100:
        return ReplicaSplit(weight, total, 0)
    if total == 1:
        return ReplicaSplit(weight, 1, 1)
    new = min(total - 1, max(1, math.ceil(total * weight / 100)))
    return ReplicaSplit(weight, new, total - new)


def canary_pods(total: int, weight: int) -> int:
    """Pods a canary needs to carry ``weight`` percent of the load of ``total`` pods (exact-weight routers)."""
    if weight <= 0:
        return 0
    return max(1, min(total, math.ceil(total * weight / 100)))
