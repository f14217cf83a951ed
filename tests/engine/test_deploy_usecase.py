"""The deploy use case against the shipped fakes: adapters built per need, what counts as a new release (version,
image, environment), the version pushed for the current commit, and a resumed no-traffic pause."""

from __future__ import annotations

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
from coursectl.errors import GateBlocked, PreconditionError
from coursectl.ledger import SqliteLedger
from coursectl.rollout.state import PAUSED, SUCCEEDED
from coursectl.testing import FakeRouter, FakeTarget, FrozenClock, ScriptedMetrics
from coursectl.wiring import Rig, rollout_context

CONFIG = """project: t
services:
  course: {path: course, port: 8002, env: {CACHE_TTL: "30"}}
registry: {url: 127.0.0.1:5000}
scan: {skip_missing: true}
analysis:
  interval: 5s
  failure_limit: 1
  inconclusive_limit: 2
  metrics:
    - {name: error-rate, max: 0.01}
    - {name: latency-p95, max: 0.5}
environments:
  canary:
    target: process
    strategy: canary
    steps: [{weight: 20, pause: 10s}]
    edge: {bind: "127.0.0.1:18081", stats_bind: "127.0.0.1:18405"}
"""


@dataclass
class World:
    """One set of fakes shared by every rig the context builds, and the needs it was asked for."""

    target: FakeTarget = field(default_factory=lambda: FakeTarget({"course": 8002}))
    router: FakeRouter = field(default_factory=FakeRouter)
    metrics: ScriptedMetrics = field(
        default_factory=lambda: ScriptedMetrics({"error-rate": 0.0, "latency-p95": 0.02})
    )
    clock: FrozenClock = field(default_factory=FrozenClock)
    needs: list[str] = field(default_factory=list)

    def rig(self, loaded: Any, state_dir: Path, *, need: str) -> Rig:
        self.needs.append(need)
        metrics = self.metrics if need == api.ROLLOUT else None
        return Rig(self.target, self.router, metrics, self.clock, "http://127.0.0.1:18081", need=need)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World()


@pytest.fixture
def ctx(tmp_path: Path, world: World) -> Iterator[api.RolloutContext]:
    (tmp_path / "coursectl.yaml").write_text(CONFIG)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    context = rollout_context(  # the wiring's adapters (release's SBOM service), with the fakes' rigs
        load_config(tmp_path / "coursectl.yaml", "canary"),
        ledger,
        tmp_path / "state",
        actor="tester",
        rig_factory=world.rig,
    )
    yield context
    ledger.close()


def test_status_first_then_a_canary_deploy_gets_its_metrics_provider(
    ctx: api.RolloutContext, world: World
) -> None:
    api.status(ctx, ["course"])  # as release does before it deploys
    assert api.deploy(ctx, "course", version="v1").phase == SUCCEEDED
    api.status(ctx, ["course"])
    final = api.deploy(ctx, "course", version="v2")
    assert final.phase == SUCCEEDED and final.promoted, final.message
    assert final.analysis["successful"] >= 1 and final.analysis["errors"] == 0
    assert world.needs == [api.OBSERVE, api.ROLLOUT]  # one rig per need, none half-built and reused
    assert ctx.rig(api.OBSERVE).metrics is None and ctx.rig(api.ROLLOUT).metrics is world.metrics


def test_the_same_version_image_and_environment_is_a_reported_no_op(ctx: api.RolloutContext, world: World) -> None:
    api.deploy(ctx, "course", version="v1", set_env={"FAULT_LATENCY_MS": "0"})
    again = api.deploy(ctx, "course", version="v1", set_env={"FAULT_LATENCY_MS": "0"})
    assert again.unchanged and again.phase == SUCCEEDED and "already live" in again.message
    assert [c[0] for c in world.target.calls].count("start") == 1


def test_the_same_version_with_another_environment_is_a_new_canary_release(
    ctx: api.RolloutContext, world: World
) -> None:
    world.metrics.values[("error-rate", "canary")] = 0.3
    api.deploy(ctx, "course", version="v1")
    with pytest.raises(Exception) as failed:
        api.deploy(ctx, "course", version="v1", set_env={"FAULT_ERROR_RATE": "0.3"})
    assert getattr(failed.value, "exit_code", None) == 7
    assert "error-rate 30% > 1% on canary" in str(failed.value) and "requests in 20 s" in str(failed.value)
    canary_starts = [c for c in world.target.calls if c[:3] == ("start", "course", "canary")]
    assert canary_starts == [("start", "course", "canary", "v1")]  # rolled out as a canary, then aborted
    assert world.router.serving("course") == ["stable"]
    assert api.is_live(ctx, "course", version="v1")  # the old environment still serves: nothing to do


def test_a_changed_env_in_the_configuration_is_a_new_release(
    ctx: api.RolloutContext, world: World, tmp_path: Path
) -> None:
    api.deploy(ctx, "course", version="v1")
    assert api.is_live(ctx, "course", version="v1")
    config = tmp_path / "coursectl.yaml"
    config.write_text(config.read_text().replace('CACHE_TTL: "30"', 'CACHE_TTL: "60"'))
    ctx.loaded = load_config(config, "canary")
    assert not api.is_live(ctx, "course", version="v1")
    final = api.deploy(ctx, "course", version="v1")
    assert final.phase == SUCCEEDED and not final.unchanged and final.promoted
    assert world.target.env["CACHE_TTL"] == "60"
    stable = next(s for s in world.target.slots("course") if s.slot == "stable")
    assert stable.fingerprint == api.wanted_fingerprint(ctx, final)


def test_without_a_version_the_push_of_the_current_commit_is_deployed(ctx: api.RolloutContext) -> None:
    head = "c0ffee" + "0" * 34
    pushes = ((head[::-1], "old", "sha256:" + "1" * 64), (head, "c0ffee000000", "sha256:" + "2" * 64))
    for commit, version, digest in pushes:
        ctx.ledger.record(
            LedgerEvent(
                kind="push", actor="ci", service="course", version=version, git_commit=commit, outcome="succeeded",
                details={"digest": digest, "repository": "127.0.0.1:5000/course-platform/course"},
            )
        )  # fmt: skip
    ctx.head_commit = lambda: head  # type: ignore[method-assign]
    final = api.deploy(ctx, "course")
    assert final.version == "c0ffee000000" and final.digest == "sha256:" + "2" * 64
    assert final.image == "127.0.0.1:5000/course-platform/course:c0ffee000000" and final.git_commit == head


def test_without_a_version_and_no_push_for_this_commit_names_what_exists(ctx: api.RolloutContext) -> None:
    ctx.head_commit = lambda: "f" * 40  # type: ignore[method-assign]
    ctx.available_versions = lambda service: "the registry has 1.2.0, 1a2b3c4d5e6f"  # type: ignore[method-assign]
    with pytest.raises(PreconditionError) as err:
        api.deploy(ctx, "course")
    assert "no image of course was built and pushed for commit ffffffffffff" in err.value.message
    assert "the registry has 1.2.0, 1a2b3c4d5e6f" in err.value.message
    assert err.value.exit_code == 4 and "coursectl images course" in (err.value.hint or "")
    assert ctx.ledger.lock_info("canary", "course") is None  # nothing held, nothing half-done


def test_resume_after_a_no_traffic_pause_counts_afresh_and_promotes_on_traffic(
    ctx: api.RolloutContext, world: World
) -> None:
    api.deploy(ctx, "course", version="v1")
    world.metrics.values["requests"] = 4.0
    paused = api.deploy(ctx, "course", version="v2")
    assert paused.phase == PAUSED and "no traffic: 4 requests in 20 s, need 20" in paused.message
    assert api.rollout_status(ctx, "course")["rollout"]["last_round"]["no_traffic"] is True
    world.metrics.values["requests"] = 300.0
    final = api.request(ctx, "course", "resume")
    assert final.phase == SUCCEEDED and final.promoted, final.message
    assert world.router.serving("course") == ["stable"] and world.target.version_in("course", "stable") == "v2"


def test_release_stops_at_a_paused_rollout_with_exit_6(ctx: api.RolloutContext, world: World) -> None:
    @dataclass
    class Built:
        service: str
        version: str

        def to_dict(self) -> dict[str, Any]:
            return {"service": self.service, "status": "built", "version": self.version, "digest": None,
                    "error": None, "repository": "127.0.0.1:5000/course-platform/course"}  # fmt: skip

    class Images:
        def __init__(self, version: str):
            self.version = version

        def build(self, names: list[str], **_: Any) -> Any:
            return type("Report", (), {"results": [Built(n, self.version) for n in names]})()

    journeys: list[str] = []

    def journey(url: str) -> JourneyResult:
        journeys.append(url)
        return JourneyResult(url, [JourneyStep("browse", True, "GET /api/course/courses: 200")])

    first = release(ctx, image_service=Images("v1"), journey=journey)
    assert first.deployed[0]["phase"] == "succeeded"
    world.metrics.values["requests"] = 0.0
    with pytest.raises(GateBlocked) as blocked:
        release(ctx, image_service=Images("v2"), journey=journey)
    assert blocked.value.exit_code == 6 and "no traffic: 0 requests in 20 s, need 20" in blocked.value.message
    assert journeys == ["http://127.0.0.1:18081"]  # the journey of the paused release never ran
    last = ctx.ledger.events(kinds=["release"])[0]
    assert last.outcome == "failed" and last.details["stages"][-1]["name"] == "rollout"
