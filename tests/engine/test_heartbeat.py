"""The deploy lock stays alive through a long step, and a take-over is noticed (a frozen clock: no sleeping)."""

from __future__ import annotations

import queue
from datetime import timedelta
from pathlib import Path

import pytest

from coursectl.api import rollout as api
from coursectl.errors import ExternalError, LockHeld
from coursectl.ledger import SqliteLedger
from coursectl.testing import FrozenClock


class Ticks:
    """The heartbeat thread's wait between beats, driven by the test: each ``tick()`` lets exactly one beat run
    and returns once the thread waits again."""

    def __init__(self) -> None:
        self.asked: queue.Queue[float] = queue.Queue()
        self._go: queue.Queue[bool] = queue.Queue()

    def wait(self, seconds: float) -> bool:
        self.asked.put(seconds)
        return self._go.get(timeout=30)

    def tick(self) -> float:
        self.release()
        return self.asked.get(timeout=10)

    def release(self) -> None:
        """One beat, without waiting for the thread to wait again (it ends when the lock was lost)."""
        self._go.put(False)

    def end(self) -> None:
        self._go.put(True)


def test_heartbeat_thread_keeps_the_lock_past_its_ttl_and_reports_a_take_over(tmp_path: Path) -> None:
    clock = FrozenClock()
    ledger = SqliteLedger(tmp_path / "ledger.db", now=clock.now)
    lock = ledger.acquire_lock("local", "course", holder="a", reason="deploy", ttl=30.0)
    ticks = Ticks()
    beat = api.Heartbeat(ledger, lock, every=5.0, ttl=30.0, wait=ticks.wait).start()
    try:
        assert ticks.asked.get(timeout=10) == 5.0  # it waits its interval before the first beat
        for _ in range(3):  # a long step: 75 s, well past the 30 s the lock was taken for
            clock.advance(25.0)
            assert ticks.tick() == 5.0
        beat()  # nothing lost
        held = ledger.lock_info("local", "course")
        assert held is not None and held.token == lock.token
        assert held.expires_at == clock.now() + timedelta(seconds=30)
        with pytest.raises(LockHeld):
            ledger.acquire_lock("local", "course", holder="b", reason="deploy")  # still alive: refused
        ledger.acquire_lock("local", "course", holder="rollback", reason="rollback", take_over=True)
        beat()  # not noticed before the next beat
        clock.advance(5.0)
        ticks.release()
        beat.stop()  # returns once the thread ended by itself: its wait ignores the stop event
        assert ticks.asked.empty()  # it did not wait for another beat
        with pytest.raises(LockHeld, match="taken over by rollback"):
            beat()
        assert ledger.lock_info("local", "course").holder == "rollback"  # type: ignore[union-attr]
    finally:
        ticks.end()
        beat.stop()
        ledger.close()


def test_a_busy_ledger_skips_a_beat_without_losing_the_lock(tmp_path: Path) -> None:
    clock = FrozenClock()
    ledger = SqliteLedger(tmp_path / "ledger.db", now=clock.now)
    lock = ledger.acquire_lock("local", "course", holder="a", reason="deploy", ttl=30.0)

    class Busy:
        def refresh_lock(self, lock: object, ttl: float) -> object:
            raise ExternalError("the ledger is busy")

    beat = api.Heartbeat(ledger, lock, ttl=30.0)
    assert beat.beat(Busy()) is True  # type: ignore[arg-type]
    beat()  # not lost: the next beat tries again
    clock.advance(20.0)
    assert beat.beat() is True
    assert beat.lock.expires_at == clock.now() + timedelta(seconds=30)
    ledger.close()


def test_stop_ends_the_thread_at_once(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    lock = ledger.acquire_lock("local", "course", holder="a", reason="deploy", ttl=30.0)
    beat = api.Heartbeat(ledger, lock, every=3600.0).start()
    beat.stop()  # the default wait is the stop event: no hour-long join
    assert ledger.release_lock(beat.lock) is True
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
    weights, running = api.live_state(ctx, "course")  # type: ignore[arg-type]
    assert "green" not in weights and list(running) == ["blue"]
