"""Fakes shipped with the package for use-case, engine and CLI tests (FakeTarget, FakeRouter, ScriptedMetrics,
FrozenClock for the rollout engine)."""

from __future__ import annotations

from coursectl.testing.fakes import FakeRouter, FakeTarget, FrozenClock, ScriptedMetrics

__all__ = ["FakeRouter", "FakeTarget", "FrozenClock", "ScriptedMetrics"]
