"""Fault injection for rollout drills: a share of requests answered 500, and/or added latency."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

EXEMPT_PREFIXES = ("/health/", "/metrics", "/version")


@dataclass
class FaultInjector:
    """Decides, per request, whether to fail it. Off (rate 0, latency 0) by default."""

    error_rate: float = 0.0
    latency_ms: int = 0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def enabled(self) -> bool:
        return self.error_rate > 0 or self.latency_ms > 0

    @staticmethod
    def exempt(path: str) -> bool:
        return path == "/metrics" or path == "/version" or path.startswith(EXEMPT_PREFIXES)

    def should_fail(self) -> bool:
        return self.error_rate > 0 and self._rng.random() < self.error_rate
