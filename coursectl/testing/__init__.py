"""Fakes shipped with the package for use-case, engine and CLI tests (FakeTarget, FakeRouter, ScriptedMetrics,
FrozenClock for the rollout engine; FakeSbomGenerator for the SBOM use cases)."""

from __future__ import annotations

from coursectl.testing.fakes import FakeRouter, FakeSbomGenerator, FakeTarget, FrozenClock, ScriptedMetrics

__all__ = ["FakeRouter", "FakeSbomGenerator", "FakeTarget", "FrozenClock", "ScriptedMetrics"]
