"""A rollback returns at the switch: the old slot's retire and the outcome record go to a finisher (here a thread
standing in for the detached process), and nothing is lost when the finisher, or the rollback, is interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coursectl.api import finisher
from coursectl.api import rollout as api
from coursectl.api.rollout.deploy import _plan as plan_from
from coursectl.api.rollout.slots import live_state
from coursectl.config import load_config
from coursectl.errors import ExternalError, LockHeld
from coursectl.ledger import SqliteLedger
from coursectl.rollout.state import PROGRESSING, SUCCEEDED
from coursectl.testing import FakeRouter, FakeTarget, FrozenClock
from coursectl.wiring import Rig

CONFIG = """project: t
services:
  course: {path: course, port: 8002}
registry: {url: 127.0.0.1:5000}
environments:
  local:
    target: process
    strategy: blue-green
    scale_down_delay: 0s
    edge: {bind: "127.0.0.1:18081", stats_bind: "127.0.0.1:18405"}
  warm:
    target: process
    strategy: blue-green
    scale_down_delay: 30s
    edge: {bind: "127.0.0.1:18082", stats_bind: "127.0.0.1:18406"}
"""


class InterruptingTarget(FakeTarget):
    """Retiring raises KeyboardInterrupt (a Ctrl-C) the first ``times`` times."""

    def __init__(self, ports: dict[str, int], times: int = 0):
        super().__init__(ports)
        self.times = times
        self.failures = 0

    def retire(self, service: str, slot: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ExternalError(f"docker: stop {service}-{slot} timed out")
        if self.times > 0:
            self.times -= 1
            raise KeyboardInterrupt
        super().retire(service, slot)


@dataclass
class World:
    target: InterruptingTarget = field(default_factory=lambda: InterruptingTarget({"course": 8002}))
    router: FakeRouter = field(default_factory=FakeRouter)
    clock: FrozenClock = field(default_factory=FrozenClock)

    def rig(self, loaded: Any, state_dir: Path, *, need: str) -> Rig:
        return Rig(self.target, self.router, None, self.clock, "http://127.0.0.1:18081", need=need)


def make_ctx(tmp_path: Path, world: World, env: str = "local") -> api.RolloutContext:
    return api.RolloutContext(
        loaded=load_config(tmp_path / "coursectl.yaml", env),
        ledger=SqliteLedger(tmp_path / "ledger.db"),
        state_dir=tmp_path / "state",
        actor="tester",
        rig_factory=world.rig,
    )


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.delenv(finisher.WAIT_ENV, raising=False)  # tests/conftest.py sets it for every other test
    return World()


@pytest.fixture
def ctx(tmp_path: Path, world: World) -> Iterator[api.RolloutContext]:
    (tmp_path / "coursectl.yaml").write_text(CONFIG)
    context = make_ctx(tmp_path, world)
    api.deploy(context, "course", version="v1")
    api.deploy(context, "course", version="v2")  # v1's slot is retired at once (scale_down_delay 0)
    yield context
    context.ledger.close()


class ThreadFinisher:
    """Stands in for ``coursectl rollout finish --handoff``: its own context and ledger connection, started by
    the hand-over and held until ``go`` is set, so the test sees the state the rollback returned with."""

    def __init__(self, tmp_path: Path, world: World, *, pid: int | None = None, run: bool = True):
        self.tmp_path, self.world, self.run_it = tmp_path, world, run
        self.pid = os.getpid() if pid is None else pid
        self.go = threading.Event()
        self.token: str | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.spawned: list[str] = []
        self.before_hand_over: Any = None

    def __call__(self, ctx: api.RolloutContext, state: Any) -> ThreadFinisher:
        self.spawned.append(state.id)
        self.rollout_id = state.id
        if self.before_hand_over:
            self.before_hand_over()
        return self

    def send(self, token: str | None) -> bool:
        self.token = token
        if token and self.run_it:
            self.thread = threading.Thread(target=self._work, daemon=True)
            self.thread.start()
        return True

    def _work(self) -> None:
        self.go.wait(30)
        own = make_ctx(self.tmp_path, self.world)
        try:
            self.result = finisher.finish(own, "course", rollout_id=self.rollout_id, token=self.token)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
            self.error = exc
        finally:
            own.ledger.close()

    def finish(self) -> Any:
        self.go.set()
        assert self.thread is not None
        self.thread.join(30)
        if self.error:
            raise self.error
        return self.result


def kinds(ctx: api.RolloutContext, kind: str) -> list[Any]:
    return ctx.ledger.events(service="course", kinds=[kind], limit=50)


def test_rollback_returns_at_the_switch_and_the_finisher_retires_and_records(
    ctx: api.RolloutContext, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = ThreadFinisher(tmp_path, world)
    monkeypatch.setattr(finisher, "SPAWNER", spawned)
    result = api.rollback(ctx, "course")
    # returned: traffic is on v1 already, the old slot (v2) still runs, its retire is left to the finisher
    assert result.phase == PROGRESSING and result.version == "v1"
    assert finisher.describe_leftovers(result) == [f"retire {result.stable_slot}"]
    assert world.router.weights("course") == {result.new_slot: 100, result.stable_slot: 0} or world.router.weights(
        "course"
    ) == {result.new_slot: 100}
    assert world.target.version_in("course", result.stable_slot) == "v2"
    handed = [e for e in kinds(ctx, "rollout.step") if e.outcome == "handed-off"]
    assert handed and handed[0].details["finisher_pid"] == os.getpid()
    assert not [e for e in kinds(ctx, "rollback") if e.details.get("rollout_id") == result.id]
    lock = ctx.ledger.lock_info("local", "course")
    assert lock is not None and f"pid={os.getpid()}" in lock.reason and lock.reason.startswith("finish-rollback")
    status = api.status(ctx)["services"][0]
    assert status["version"] == "v1" and status["rollout"]["finishing"] == [f"retire {result.stable_slot}"]

    done = spawned.finish()
    assert done.phase == SUCCEEDED
    assert world.target.version_in("course", result.stable_slot) is None  # retired
    rows = kinds(ctx, "rollback")
    assert rows[0].outcome == "succeeded" and rows[0].version == "v1" and rows[0].details["from_version"] == "v2"
    assert ctx.ledger.lock_info("local", "course") is None
    assert api.status(ctx)["services"][0]["rollout"] is None


def test_a_killed_finisher_loses_nothing_the_next_command_finishes_it(
    ctx: api.RolloutContext, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = subprocess.run(["true"], check=True)
    del gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    monkeypatch.setattr(finisher, "SPAWNER", ThreadFinisher(tmp_path, world, pid=dead.pid, run=False))
    result = api.rollback(ctx, "course")
    assert finisher.is_leftover(ctx.store.load(result.id))
    # the finisher never ran (killed): rollout finish by hand would finish it; so does the next deploy
    monkeypatch.setattr(finisher, "SPAWNER", None)
    api.deploy(ctx, "course", version="v3")
    finished = ctx.store.load(result.id)
    assert finished is not None and finished.phase == SUCCEEDED
    assert kinds(ctx, "rollback")[0].outcome == "succeeded"
    assert world.target.version_in("course", result.stable_slot) in (None, "v3")  # retired (then reused by v3)


def test_ctrl_c_in_the_finisher_loses_nothing(
    ctx: api.RolloutContext, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = ThreadFinisher(tmp_path, world)
    monkeypatch.setattr(finisher, "SPAWNER", spawned)
    result = api.rollback(ctx, "course")
    world.target.times = 1  # the finisher's retire is interrupted
    with pytest.raises(KeyboardInterrupt):
        spawned.finish()
    interrupted = kinds(ctx, "interrupted")
    assert interrupted and interrupted[0].details["rollout_id"] == result.id
    left = ctx.store.load(result.id)
    assert finisher.is_leftover(left)  # still on record, still to do
    assert api.status(ctx)["services"][0]["rollout"]["finishing"]
    monkeypatch.setattr(finisher, "SPAWNER", None)
    done = finisher.finish(ctx, "course")  # `coursectl rollout finish course` by hand
    assert done is not None and done.phase == SUCCEEDED
    assert world.target.version_in("course", result.stable_slot) is None
    assert kinds(ctx, "rollback")[0].outcome == "succeeded"
    assert finisher.finish(ctx, "course") is None  # nothing left


def test_ctrl_c_during_the_hand_over_ends_the_rollback_but_not_the_finisher(
    ctx: api.RolloutContext, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = ThreadFinisher(tmp_path, world)
    spawned.before_hand_over = lambda: os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, mid hand-over
    monkeypatch.setattr(finisher, "SPAWNER", spawned)
    with pytest.raises(KeyboardInterrupt):
        api.rollback(ctx, "course")
    assert spawned.token is not None  # the hand-over was completed before the interrupt was let through
    interrupted = kinds(ctx, "interrupted")
    assert interrupted and interrupted[0].details["handed_off"] is True
    done = spawned.finish()
    assert done.phase == SUCCEEDED and kinds(ctx, "rollback")[0].outcome == "succeeded"


def test_a_later_rollback_waits_for_a_live_finisher(
    ctx: api.RolloutContext, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = ThreadFinisher(tmp_path, world)
    monkeypatch.setattr(finisher, "SPAWNER", spawned)
    api.rollback(ctx, "course")
    clock = FrozenClock()

    def sleep(seconds: float) -> None:  # the finisher works while the later command waits
        clock.advance(seconds)
        if not spawned.go.is_set():
            spawned.finish()

    done = finisher.settle(ctx, "course", sleep=sleep, monotonic=clock.monotonic)
    assert done is not None and done.phase == SUCCEEDED
    # and a finisher that never finishes: the later command gives up, naming it (exit 8)
    stuck = ThreadFinisher(tmp_path, world, run=False)
    monkeypatch.setattr(finisher, "SPAWNER", stuck)
    api.rollback(ctx, "course", to_version="v2")
    with pytest.raises(LockHeld, match="still finishing"):
        finisher.settle(ctx, "course", wait=5, sleep=clock.advance, monotonic=clock.monotonic)


def test_waiting_is_asked_for(
    ctx: api.RolloutContext, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = ThreadFinisher(tmp_path, world)
    monkeypatch.setattr(finisher, "SPAWNER", spawned)
    monkeypatch.setenv(finisher.WAIT_ENV, "1")
    result = api.rollback(ctx, "course")
    assert result.phase == SUCCEEDED and not spawned.spawned
    assert world.target.version_in("course", result.stable_slot) is None
    assert kinds(ctx, "rollback")[0].outcome == "succeeded"


def test_a_failed_retire_after_the_switch_is_left_to_do_never_undone(
    ctx: api.RolloutContext, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = ThreadFinisher(tmp_path, world)
    monkeypatch.setattr(finisher, "SPAWNER", spawned)
    result = api.rollback(ctx, "course")
    world.target.failures = 1
    with pytest.raises(ExternalError, match="timed out"):
        spawned.finish()
    # users stay on v1 (no abort sent them back to v2); the retire is still to do, and done next time
    assert world.router.weights("course").get(result.new_slot) == 100
    assert finisher.is_leftover(ctx.store.load(result.id))
    errors = [e for e in kinds(ctx, "rollout.step") if e.outcome == "error"]
    assert errors and "timed out" in errors[0].details["error"]
    monkeypatch.setattr(finisher, "SPAWNER", None)
    done = finisher.finish(ctx, "course")
    assert done is not None and done.phase == SUCCEEDED
    assert world.target.version_in("course", result.stable_slot) is None


def test_ctrl_c_while_a_rollout_in_flight_is_rolled_back_keeps_the_finishers_lock_and_the_record(
    tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback of a deploy still in its scale-down delay (its own abort): a Ctrl-C during the hand-over ends
    the rollback, but neither the rollback's record nor the finisher's lock is lost."""
    (tmp_path / "coursectl.yaml").write_text(CONFIG)
    ctx = make_ctx(tmp_path, world, "warm")
    try:
        api.deploy(ctx, "course", version="v1")
        weights, running = live_state(ctx, "course")
        state = plan_from(ctx, "course", weights, running, version="v2", digest=None, strategy=None, set_env=None,
                          hotfix=False)  # fmt: skip
        ctx.store.save(state)
        engine = api.engine_for(ctx, "course", None)
        engine.run(state, hand_off=lambda s: s.current_step is not None and s.current_step.kind == "delay")
        assert world.router.weights("course").get(state.new_slot) == 100  # v2 live, v1 kept warm
        spawned = ThreadFinisher(tmp_path, world, run=False)  # the finisher is run by hand below
        spawned.before_hand_over = lambda: os.kill(os.getpid(), signal.SIGINT)
        monkeypatch.setattr(finisher, "SPAWNER", spawned)
        with pytest.raises(KeyboardInterrupt):
            api.rollback(ctx, "course")
        lock = ctx.ledger.lock_info("warm", "course")
        assert lock is not None and lock.token == spawned.token  # still the finisher's
        assert kinds(ctx, "rollback")[0].outcome == "succeeded"  # recorded before the hand-over
        own = make_ctx(tmp_path, world, "warm")
        try:
            done = finisher.finish(own, "course", rollout_id=state.id, token=spawned.token)
        finally:
            own.ledger.close()
        assert done is not None and done.phase == "aborted"
        assert world.target.version_in("course", state.new_slot) is None  # v2 retired
        assert ctx.ledger.lock_info("warm", "course") is None
    finally:
        ctx.ledger.close()
