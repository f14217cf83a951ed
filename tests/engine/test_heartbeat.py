"""The deploy lock stays alive through a long step, and a take-over is noticed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from coursectl.api import rollout as api
from coursectl.errors import LockHeld
from coursectl.ledger import SqliteLedger


def test_heartbeat_thread_keeps_the_lock_and_reports_a_take_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "HEARTBEAT_EVERY", 0.05)
    monkeypatch.setattr(api, "LOCK_TTL", 0.3)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    lock = ledger.acquire_lock("local", "course", holder="a", reason="deploy", ttl=0.3)
    beat = api._Heartbeat(ledger, lock).start()
    try:
        time.sleep(0.8)  # a long step: well past the TTL
        beat()  # nothing lost
        with pytest.raises(LockHeld):
            ledger.acquire_lock("local", "course", holder="b", reason="deploy")  # still alive: refused
        ledger.acquire_lock("local", "course", holder="rollback", reason="rollback", take_over=True)
        time.sleep(0.3)
        with pytest.raises(LockHeld):
            beat()
    finally:
        beat.stop()
        ledger.close()


def test_live_state_drops_routes_to_slots_that_do_not_run(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from coursectl.domain import SlotSpec
    from coursectl.testing import FakeRouter, FakeTarget

    target, router = FakeTarget({"course": 8002}), FakeRouter()
    target.start(SlotSpec("course", "blue", "v1", 8102))
    router.set_weights("course", {"green": 100, "blue": 0}, {})  # green was removed behind coursectl's back
    rig = SimpleNamespace(router=router, target=target)
    ctx = SimpleNamespace(rig=lambda need: rig)
    weights, running = api._live(ctx, "course")  # type: ignore[arg-type]
    assert "green" not in weights and list(running) == ["blue"]
