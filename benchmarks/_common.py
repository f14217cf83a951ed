"""Helpers of the rollout benchmarks (run from the repository: python benchmarks/<name>.py)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def report(name: str, **figures: object) -> None:
    print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
