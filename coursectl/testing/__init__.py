"""Fakes shipped with coursectl for engine-level tests: FakeTarget, FakeRouter, ScriptedMetrics, FrozenClock."""

from __future__ import annotations

from coursectl.testing.fakes import FakeRouter, FakeTarget, FrozenClock, ScriptedMetrics

__all__ = ["FakeRouter", "FakeTarget", "FrozenClock", "ScriptedMetrics"]
