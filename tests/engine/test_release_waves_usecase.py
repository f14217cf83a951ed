"""The release use case in waves against the shipped fakes: order, all or nothing (last wave first), keep, and a
release that finds another one interrupted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from coursectl.api import rollout as api
from coursectl.api.journey import JourneyResult, JourneyStep
from coursectl.api.release import release
from coursectl.config import load_config
from coursectl.domain import LedgerEvent
from coursectl.errors import PreconditionError, RolloutFailed
from coursectl.ledger import SqliteLedger
from coursectl.rollout.release_state import ReleaseStore
from coursectl.testing import FakeRouter, FakeTarget, FrozenClock, ScriptedMetrics
from coursectl.wiring import Rig, rollout_context

CONFIG = """project: t
services:
  user: {{path: user, port: 8001}}
  course: {{path: course, port: 8002}}
  payment: {{path: payment, port: 8003}}
  enrollment: {{path: enrollment, port: 8004, depends_on: [course, payment]}}
registry: {{url: 127.0.0.1:5000}}
scan: {{skip_missing: true}}
release: {{order: [[user], [course, payment]], parallel: 2}}
environments:
  bg:
    target: process
    strategy: blue-green
    scale_down_delay: 0s
    edge: {{bind: "127.0.0.1:18091", stats_bind: "127.0.0.1:18492"}}
    release: {{on_failure: {on_failure}}}
"""


@dataclass
class World:
    target: FakeTarget = field(default_factory=lambda: FakeTarget({"user": 8001, "course": 8002}))
    router: FakeRouter = field(default_factory=FakeRouter)
    clock: FrozenClock = field(default_factory=FrozenClock)

    def rig(self, loaded: Any, state_dir: Path, *, need: str) -> Rig:
        metrics = ScriptedMetrics({"error-rate": 0.0, "latency-p95": 0.02}) if need == api.ROLLOUT else None
        return Rig(self.target, self.router, metrics, self.clock, "http://127.0.0.1:18091", need=need)


@dataclass
class Built:
    service: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "status": "built", "version": self.version, "digest": None, "error": None}


class Images:
    """Every service at ``version``, except those ``special`` gives another."""

    def __init__(self, version: str, **special: str):
        self.version, self.special = version, special

    def __call__(self, ledger: Any) -> Images:
        """As a real build records: a push per service (the scan finds each image's tag there)."""
        for name in ("user", "course", "payment", "enrollment"):
            version = self.special.get(name, self.version)
            ledger.record(LedgerEvent(kind="push", actor="t", service=name, version=version, outcome="succeeded"))
        return self

    def build(self, names: list[str], **_: Any) -> Any:
        rows = [Built(n, self.special.get(n, self.version)) for n in names]
        return type("Report", (), {"results": rows})()


def _journey(url: str) -> JourneyResult:
    return JourneyResult(url, [JourneyStep("browse", True, "GET /: 200")])


def _context(tmp_path: Path, world: World, on_failure: str) -> Iterator[api.RolloutContext]:
    (tmp_path / "coursectl.yaml").write_text(CONFIG.format(on_failure=on_failure))
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ctx = rollout_context(  # the wiring's adapters (release's SBOM service), with the fakes' rigs
        load_config(tmp_path / "coursectl.yaml", "bg"), ledger, tmp_path / "state", actor="tester", rig_factory=world.rig
    )
    yield ctx
    ledger.close()


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture(params=["rollback-all"])
def ctx(request: pytest.FixtureRequest, tmp_path: Path, world: World) -> Iterator[api.RolloutContext]:
    yield from _context(tmp_path, world, request.param)


def _live(world: World) -> dict[str, str]:
    out = {}
    for service in ("user", "course", "payment", "enrollment"):
        serving = world.router.serving(service)
        out[service] = world.target.version_in(service, serving[0]) if serving else "-"
    return out  # type: ignore[return-value]


def test_waves_follow_the_order_and_dependencies(ctx: api.RolloutContext, world: World) -> None:
    report = release(ctx, image_service=Images("v1"), journey=_journey)
    assert report.release is not None
    assert report.release.waves == [["user"], ["course", "payment"], ["enrollment"]]
    starts = [c[1] for c in world.target.calls if c[0] == "start"]
    assert starts.index("user") < min(starts.index("course"), starts.index("payment"))
    assert max(starts.index("course"), starts.index("payment")) < starts.index("enrollment")
    assert _live(world) == dict.fromkeys(("user", "course", "payment", "enrollment"), "v1")
    saved = ReleaseStore(ctx.ledger).latest("bg")
    assert saved is not None and saved.phase == "succeeded"


def test_a_failure_rolls_every_promoted_service_back_last_wave_first(
    ctx: api.RolloutContext, world: World
) -> None:
    release(ctx, image_service=Images("v1"), journey=_journey)
    release(ctx, image_service=Images("v2"), journey=_journey)
    world.target.fail_smoke.add("bad")
    world.target.calls.clear()
    def course_promoted() -> bool:  # its rollout finished, not only its traffic switched (the rollout ends after)
        from coursectl.rollout.state import SUCCEEDED
        from coursectl.rollout.store import Rollouts

        latest = Rollouts(ctx.ledger).latest("bg", "course")
        return latest is not None and latest.version == "v3" and latest.phase == SUCCEEDED

    def payment_smoke(call: Any) -> None:  # payment fails only once course (same wave) is promoted
        deadline = time.monotonic() + 10
        while call[1] == "payment" and not course_promoted() and time.monotonic() < deadline:
            time.sleep(0.01)

    world.target.before["smoke"] = payment_smoke
    with pytest.raises(RolloutFailed) as failed:
        release(ctx, image_service=Images("v3", payment="bad")(ctx.ledger), journey=_journey)
    assert failed.value.exit_code == 7 and "payment" in failed.value.message
    assert _live(world) == dict.fromkeys(("user", "course", "payment", "enrollment"), "v2")
    rel = ReleaseStore(ctx.ledger).latest("bg")
    assert rel is not None and rel.phase == "rolled-back"
    states = {n: e.state for n, e in rel.services.items()}
    assert states["payment"] == "failed" and states["enrollment"] == "skipped" and states["user"] == "rolled-back"
    assert states["course"] == "rolled-back"
    # the rollback of user (wave 1) started after course (wave 2) was back on v2
    assert rel.services["course"].finished_at <= rel.services["user"].started_at  # type: ignore[operator]
    # the old colours were kept warm through the release: each rollback is a switch back, nothing started again
    assert not [c for c in world.target.calls if c[0] == "start" and c[3] == "v2"]
    assert not any(c[1] == "enrollment" for c in world.target.calls if c[0] == "start")
    for name in ("user", "course"):  # and the v3 slots were retired by the rollbacks
        assert [s.version for s in world.target.slots(name) if s.running] == ["v2"]


@pytest.mark.parametrize("ctx", ["keep"], indirect=True)
def test_keep_leaves_the_promoted_services(ctx: api.RolloutContext, world: World) -> None:
    release(ctx, image_service=Images("v1"), journey=_journey)
    world.target.fail_smoke.add("bad")
    with pytest.raises(RolloutFailed) as failed:
        release(ctx, image_service=Images("v2", payment="bad")(ctx.ledger), journey=_journey)
    assert "kept on their new versions" in failed.value.message
    live = _live(world)
    assert (
        live["user"] == "v2" and live["course"] == "v2" and live["payment"] == "v1" and live["enrollment"] == "v1"
    )
    rel = ReleaseStore(ctx.ledger).latest("bg")
    assert rel is not None and rel.phase == "failed" and rel.services["user"].state == "kept"


def test_an_interrupted_release_blocks_the_next_one(ctx: api.RolloutContext, world: World) -> None:
    release(ctx, image_service=Images("v1"), journey=_journey)
    store = ReleaseStore(ctx.ledger)
    rel = store.latest("bg")
    assert rel is not None
    rel.phase, rel.pid = "rolling-out", 2**22 + 12345  # a process that does not exist: killed
    store.save(rel)
    with pytest.raises(PreconditionError) as blocked:
        release(ctx, image_service=Images("v2"), journey=_journey)
    assert "interrupted" in blocked.value.message and "release resume" in (blocked.value.hint or "")


def _interrupted(ctx: api.RolloutContext, world: World) -> None:
    """v1 everywhere; then a release of v2 'killed' in wave 2: user promoted, course started (its rollout
    recorded, in flight), payment not started yet."""
    from coursectl.rollout.release_state import ReleaseState, ServiceEntry

    release(ctx, image_service=Images("v1"), journey=_journey)
    names = ("user", "course", "payment", "enrollment")
    waves = [["user"], ["course", "payment"], ["enrollment"]]
    wave_of = {n: i for i, w in enumerate(waves) for n in w}
    entries = {n: ServiceEntry(n, wave_of[n], "v2", from_version="v1") for n in names}
    rel = ReleaseState(id="rel-k", environment="bg", actor="tester", waves=waves, services=entries, parallel=2,
                       on_failure="rollback-all", pid=2**22 + 12345)  # fmt: skip
    api.deploy(ctx, "user", version="v2")
    entries["user"].state = "promoted"
    entries["course"].state, entries["course"].started_at = "rolling", "2000-01-01T00:00:00Z"
    state = api.plan_deploy(ctx, "course", version="v2", need=api.ROLLOUT)
    ctx.store.save(state)  # saved, not run: what a kill right after the rollout began leaves
    ReleaseStore(ctx.ledger).save(rel)


def test_an_interrupted_release_is_resumed(ctx: api.RolloutContext, world: World) -> None:
    from coursectl.api.release_plan import resume_release

    _interrupted(ctx, world)
    rel = resume_release(ctx)
    assert rel.phase == "succeeded"
    assert {e.state for e in rel.services.values()} == {"promoted"}
    assert _live(world) == dict.fromkeys(("user", "course", "payment", "enrollment"), "v2")


def test_an_interrupted_release_is_aborted(ctx: api.RolloutContext, world: World) -> None:
    from coursectl.api.release_plan import abort

    _interrupted(ctx, world)
    rel = abort(ctx)
    assert rel.phase == "aborted"
    states = {n: e.state for n, e in rel.services.items()}
    assert states == {"user": "rolled-back", "course": "aborted", "payment": "skipped", "enrollment": "skipped"}
    assert _live(world) == dict.fromkeys(("user", "course", "payment", "enrollment"), "v1")


def test_old_colours_stay_warm_through_the_release_and_are_retired_once_it_is_good(
    ctx: api.RolloutContext, world: World
) -> None:
    release(ctx, image_service=Images("v1"), journey=_journey)
    warm_during_journey: dict[str, list[str]] = {}

    def journey(url: str) -> JourneyResult:  # the last check of the release: both colours still up
        for name in ("user", "course", "payment", "enrollment"):
            warm_during_journey[name] = sorted(s.version for s in world.target.slots(name) if s.running)
        return _journey(url)

    release(ctx, image_service=Images("v2"), journey=journey)
    assert warm_during_journey == dict.fromkeys(("user", "course", "payment", "enrollment"), ["v1", "v2"])
    for name in ("user", "course", "payment", "enrollment"):
        assert [s.version for s in world.target.slots(name) if s.running] == ["v2"]
    retired = ctx.ledger.events(kinds=["rollout.retire"])
    assert sorted((e.service, e.version) for e in retired) == [
        (n, "v1") for n in ("course", "enrollment", "payment", "user")
    ]
    rel = ReleaseStore(ctx.ledger).latest("bg")
    assert rel is not None and rel.phase == "succeeded"
    assert all(e.warm_slot is None for e in rel.services.values())


def test_a_failed_journey_after_the_waves_rolls_everything_back(ctx: api.RolloutContext, world: World) -> None:
    release(ctx, image_service=Images("v1"), journey=_journey)

    def broken(url: str) -> JourneyResult:
        return JourneyResult(url, [JourneyStep("checkout", False, "POST /api/payments: 500 (expected 201)")])

    with pytest.raises(RolloutFailed) as failed:
        release(ctx, image_service=Images("v2"), journey=broken)
    assert failed.value.exit_code == 7 and "journey failed: POST /api/payments: 500" in failed.value.message
    assert _live(world) == dict.fromkeys(("user", "course", "payment", "enrollment"), "v1")
    rel = ReleaseStore(ctx.ledger).latest("bg")
    assert rel is not None and rel.phase == "rolled-back"
    assert {e.state for e in rel.services.values()} == {"rolled-back"}


def test_a_slot_changed_since_the_release_promoted_is_not_retired(ctx: api.RolloutContext, world: World) -> None:
    release(ctx, image_service=Images("v1"), journey=_journey)
    api.deploy(ctx, "user", version="v2", keep_old_warm=True)  # v1 left warm in the other colour
    warm = [s for s in world.target.slots("user") if s.running and s.version == "v1"]
    assert len(warm) == 1
    assert api.retire_warm(ctx, "user", slot=warm[0].slot, version="v0") == "left: it runs v1, not v0"
    live = world.router.serving("user")[0]
    assert api.retire_warm(ctx, "user", slot=live, version="v2").startswith("left: it serves 100%")
    assert api.retire_warm(ctx, "user", slot=warm[0].slot, version="v1") == "retired"
    assert [s.version for s in world.target.slots("user") if s.running] == ["v2"]
    assert api.retire_warm(ctx, "user", slot=warm[0].slot, version="v1") == "left: it no longer runs"


def test_keep_old_warm_false_retires_each_old_colour_inside_its_rollout(tmp_path: Path, world: World) -> None:
    config = CONFIG.format(on_failure="rollback-all").replace(
        "release: {on_failure: rollback-all}", "release: {on_failure: rollback-all, keep_old_warm: false}"
    )
    (tmp_path / "coursectl.yaml").write_text(config)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    try:
        ctx = rollout_context(
            load_config(tmp_path / "coursectl.yaml", "bg"), ledger, tmp_path / "state", actor="t", rig_factory=world.rig
        )
        release(ctx, image_service=Images("v1"), journey=_journey)
        running: dict[str, list[str]] = {}

        def journey(url: str) -> JourneyResult:
            for name in ("user", "course", "payment", "enrollment"):
                running[name] = [s.version for s in world.target.slots(name) if s.running]
            return _journey(url)

        release(ctx, image_service=Images("v2"), journey=journey)
        assert running == dict.fromkeys(("user", "course", "payment", "enrollment"), ["v2"])
        assert ledger.events(kinds=["rollout.retire"]) == []
    finally:
        ledger.close()


def test_only_a_blue_green_rollout_leaves_an_old_colour_warm() -> None:
    from coursectl.api.release_run import warm_slot
    from coursectl.rollout.plan import plan_rollout

    running = {"blue": object()}
    kept = plan_rollout(environment="e", service="s", version="v2", strategy="blue-green", weights={"blue": 100},
                        running=running, keep_old_warm=True)  # fmt: skip
    assert warm_slot(kept) == "blue" and kept.new_slot == "green"
    retired = plan_rollout(environment="e", service="s", version="v2", strategy="blue-green",
                           weights={"blue": 100}, running=running)  # fmt: skip
    assert warm_slot(retired) is None
    canary = plan_rollout(environment="e", service="s", version="v2", strategy="canary", weights={"stable": 100},
                          running={"stable": object()}, canary_steps=[(50, 1.0)], keep_old_warm=True)  # fmt: skip
    assert warm_slot(canary) is None  # its stable slot runs the new version once promoted
