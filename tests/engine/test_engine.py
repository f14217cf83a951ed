"""The rollout engine against the shipped fakes: strategies, analysis, requests, crashes and resumption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coursectl.ledger import SqliteLedger
from coursectl.rollout.analysis import AnalysisRules, MetricRule
from coursectl.rollout.engine import Engine, EngineSettings
from coursectl.rollout.plan import plan_rollout
from coursectl.rollout.state import ABORTED, PAUSED, SUCCEEDED, RolloutState
from coursectl.rollout.store import RolloutStore
from coursectl.testing import FakeRouter, FakeTarget, FrozenClock, ScriptedMetrics

RULES = AnalysisRules(
    metrics=(MetricRule("error-rate", max=0.01), MetricRule("latency-p95", max=0.5)),
    interval=10.0,
    failure_limit=2,
    inconclusive_limit=2,
)
GOOD = {"error-rate": 0.001, "latency-p95": 0.05}


class Crash(BaseException):
    """kill -9, as far as the engine can tell: nothing after it runs."""


class World:
    def __init__(self, tmp_path: Path, metrics: ScriptedMetrics | None = None, **settings: Any):
        self.ledger = SqliteLedger(tmp_path / "ledger.db")
        self.clock = FrozenClock()
        self.store = RolloutStore(self.ledger)
        self.target = FakeTarget({"course": 8002})
        self.router = FakeRouter()
        self.metrics = metrics if metrics is not None else ScriptedMetrics(GOOD)
        self.settings = EngineSettings(rules=RULES, **settings)

    def engine(self) -> Engine:
        return Engine(
            target=self.target,
            router=self.router,
            store=self.store,
            clock=self.clock,
            metrics=self.metrics,
            settings=self.settings,
        )

    def plan(self, version: str, strategy: str, **kw: Any) -> RolloutState:
        running = {s.slot: s for s in self.target.slots("course")}
        return plan_rollout(
            environment="local",
            service="course",
            version=version,
            strategy=strategy,
            weights=self.router.weights("course"),
            running=running,
            actor="tester",
            digest=f"sha256:{version}",
            git_commit=f"c-{version}",
            **kw,
        )

    def deploy(self, version: str, strategy: str = "blue-green", **kw: Any) -> RolloutState:
        state = self.plan(version, strategy, **kw)
        self.store.save(state)
        return self.engine().run(state)

    def kinds(self, kind: str) -> list[Any]:
        return self.ledger.events(kinds=[kind], newest_first=False)


CANARY_STEPS = [(10, 30.0), (50, 30.0), (100, None)]


def test_first_deploy_then_blue_green_switch(tmp_path: Path) -> None:
    w = World(tmp_path)
    assert w.deploy("v1").phase == SUCCEEDED
    assert w.router.weights("course") == {"blue": 100}
    final = w.deploy("v2", post_analysis=20.0, scale_down_delay=30.0)
    assert final.phase == SUCCEEDED
    assert w.router.serving("course") == ["green"]
    assert w.target.version_in("course", "green") == "v2"
    assert w.target.version_in("course", "blue") is None  # retired after the scale-down delay
    deployments = w.kinds("deployment")
    assert [d.outcome for d in deployments] == ["succeeded", "succeeded"]
    d = deployments[-1]
    assert d.version == "v2" and d.git_commit == "c-v2"
    assert set(d.details) >= {
        "started_at",
        "finished_at",
        "status",
        "hotfix",
        "digest",
        "strategy",
        "rollout_id",
        "source",
    }
    assert d.details["status"] == "succeeded" and d.details["source"] == "coursectl"
    assert d.details["digest"] == "sha256:v2" and d.details["strategy"] == "blue-green"


def test_blue_green_traffic_always_has_a_slot(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.deploy("v1")
    w.deploy("v2", scale_down_delay=5.0)
    for _, table in w.router.history:
        assert sum(table.values()) == 100


def test_good_canary_promotes_through_every_step(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.deploy("v1", "canary")
    final = w.deploy("v2", "canary", canary_steps=CANARY_STEPS)
    assert final.phase == SUCCEEDED, final.message
    canary_weights = [t.get("canary") for _, t in w.router.history if "canary" in t]
    assert canary_weights[:3] == [10, 50, 100]
    assert w.router.weights("course") == {"stable": 100}
    assert w.target.version_in("course", "stable") == "v2"
    assert w.target.version_in("course", "canary") is None
    assert len(w.kinds("rollout.measurement")) >= 6  # 3 per 30 s pause at a 10 s interval
    ids = {e.details["rollout_id"] for e in w.kinds("rollout.step") if e.version == "v2"}
    assert ids == {final.id}


def test_bad_canary_is_aborted_within_three_intervals(tmp_path: Path) -> None:
    metrics = ScriptedMetrics({("error-rate", "canary"): 0.3, "error-rate": 0.001, "latency-p95": 0.05})
    w = World(tmp_path, metrics)
    w.deploy("v1", "canary")
    w.clock.elapsed = 0
    final = w.deploy("v2", "canary", canary_steps=CANARY_STEPS, set_env={"FAULT_ERROR_RATE": "0.3"})
    assert final.phase == ABORTED
    assert w.clock.elapsed <= 3 * RULES.interval
    assert w.router.serving("course") == ["stable"]
    assert w.target.version_in("course", "canary") is None
    assert "error-rate 30% > 1% on canary (1000 requests in 20 s), 3 of 3 failed" in final.message
    assert w.kinds("deployment")[-1].details["status"] == "rolled_back"
    assert w.target.env["FAULT_ERROR_RATE"] == "0.3"
    m = w.kinds("rollout.measurement")[-1].details["measurements"][0]
    assert m["query"].startswith('(sum(rate(http_requests_total{slot="canary"') and m["value"] == 0.3


def test_metrics_down_never_promotes(tmp_path: Path) -> None:
    metrics = ScriptedMetrics(GOOD)
    w = World(tmp_path, metrics)
    w.deploy("v1", "canary")
    metrics.down = True
    final = w.deploy("v2", "canary", canary_steps=CANARY_STEPS)
    assert final.phase == ABORTED and not final.promoted
    assert "metrics provider error" in final.message
    assert w.target.version_in("course", "stable") == "v1"


def test_no_data_inconclusive_pauses_and_never_promotes(tmp_path: Path) -> None:
    rules = AnalysisRules(
        metrics=(MetricRule("error-rate", max=0.01, on_no_data="inconclusive"),),
        interval=10.0,
        failure_limit=2,
        inconclusive_limit=1,
    )
    w = World(tmp_path, ScriptedMetrics({"error-rate": None}))
    w.settings.rules = rules
    w.deploy("v1", "canary")
    final = w.deploy("v2", "canary", canary_steps=[(10, 5.0)])  # a pause shorter than the interval
    assert final.phase == PAUSED and not final.promoted
    assert "inconclusive" in final.message


def test_short_pause_still_needs_one_successful_measurement(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.deploy("v1", "canary")
    final = w.deploy("v2", "canary", canary_steps=[(10, 1.0)])
    assert final.phase == SUCCEEDED
    assert w.kinds("rollout.measurement")[0].outcome == "successful"


def test_on_failure_pause(tmp_path: Path) -> None:
    w = World(tmp_path, ScriptedMetrics({"error-rate": 0.5, "latency-p95": 0.05}), on_failure="pause")
    w.deploy("v1", "canary")
    final = w.deploy("v2", "canary", canary_steps=CANARY_STEPS)
    assert final.phase == PAUSED and "on_failure: pause" in final.message
    assert w.router.weights("course")["canary"] == 10  # left as it was for a human


def test_smoke_failure_aborts_before_any_traffic(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.deploy("v1")
    w.target.fail_smoke.add("v2")
    before = len(w.router.history)
    final = w.deploy("v2")
    assert final.phase == ABORTED and "smoke" in final.message
    assert ("smoke", "course", "green") in w.target.calls
    # not one moment with traffic on the new colour: every routing change of this rollout kept green at 0
    changes = [weights for service, weights in w.router.history[before:] if service == "course"]
    assert all(weights.get("green", 0) == 0 for weights in changes), changes
    assert w.router.serving("course") == ["blue"]
    assert w.target.version_in("course", "green") is None


@pytest.mark.parametrize("strategy", ["blue-green", "canary"])
def test_the_new_slot_gets_traffic_only_after_its_smoke_check(tmp_path: Path, strategy: str) -> None:
    w = World(tmp_path)
    w.deploy("v1", strategy)
    new = "green" if strategy == "blue-green" else "canary"
    at_smoke: list[dict[str, int]] = []
    w.target.before["smoke"] = lambda call: at_smoke.append(w.router.weights("course")) if call[2] == new else None
    before = len(w.router.history)
    kw = {"canary_steps": CANARY_STEPS} if strategy == "canary" else {}
    assert w.deploy("v2", strategy, **kw).phase == SUCCEEDED
    assert at_smoke and all(weights.get(new, 0) == 0 for weights in at_smoke), at_smoke
    changes = [weights for service, weights in w.router.history[before:] if service == "course"]
    assert any(weights.get(new, 0) > 0 for weights in changes)  # and it did get traffic afterwards


def test_abort_request_during_pause(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.deploy("v1", "canary")
    state = w.plan("v2", "canary", canary_steps=CANARY_STEPS)
    w.store.save(state)
    w.clock.on_sleep.append(lambda t: t > 12 and w.store.post_request(state.id, "abort", "oncall"))
    final = w.engine().run(state)
    assert final.phase == ABORTED and final.aborted_by == "oncall"
    assert w.router.serving("course") == ["stable"]


def test_promote_full_skips_remaining_pauses(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.deploy("v1", "canary")
    state = w.plan("v2", "canary", canary_steps=[(10, 600.0), (50, 600.0)])
    w.store.save(state)
    w.store.post_request(state.id, "promote-full", "lead")
    final = w.engine().run(state)
    assert final.phase == SUCCEEDED
    assert w.clock.elapsed < 60
    assert any(e.outcome == "full" and e.actor == "lead" for e in w.kinds("rollout.promote"))


def _plan_length(strategy: str) -> int:
    from types import SimpleNamespace

    stable = "blue" if strategy == "blue-green" else "stable"
    return len(
        plan_rollout(
            environment="local",
            service="course",
            version="v2",
            strategy=strategy,
            weights={stable: 100},
            running={stable: SimpleNamespace(version="v1", digest=None)},
            canary_steps=[(10, 10.0), (50, 10.0)],
            post_analysis=10.0,
            scale_down_delay=10.0,
        ).steps
    )


EVERY_STEP = [(s, i) for s in ("blue-green", "canary") for i in range(_plan_length(s))]


@pytest.mark.parametrize(("strategy", "crash_at"), EVERY_STEP)
@pytest.mark.parametrize("then", ["resume", "abort"])
def test_crash_at_every_step_then_resume_or_abort(tmp_path: Path, strategy: str, crash_at: int, then: str) -> None:
    w = World(tmp_path)
    w.deploy("v1", strategy)
    state = w.plan(
        "v2", strategy, canary_steps=[(10, 10.0), (50, 10.0)], post_analysis=10.0, scale_down_delay=10.0
    )
    assert crash_at < len(state.steps)
    w.store.save(state)
    armed = {"on": False, "saves": 0}

    def fire() -> None:
        if armed["on"]:
            armed["on"] = False
            raise Crash()

    def on_save(saved: RolloutState) -> None:
        if saved.step_index == crash_at and saved.phase == "progressing" and armed["saves"] == 0:
            armed["saves"] = 1
            armed["on"] = True  # the next action runs, then the process dies before recording it
        elif armed["on"]:
            fire()

    def after(obj: Any, name: str) -> None:
        real = getattr(obj, name)

        def wrapped(*a: Any, **k: Any) -> Any:
            result = real(*a, **k)
            fire()
            return result

        setattr(obj, name, wrapped)

    for name in ("start", "wait_ready", "smoke", "retire"):
        after(w.target, name)
    for name in ("set_weights", "remove"):
        after(w.router, name)
    w.clock.on_sleep.append(lambda _t: fire())
    engine = Engine(
        target=w.target,
        router=w.router,
        store=w.store,
        clock=w.clock,
        metrics=w.metrics,
        settings=w.settings,
        on_change=on_save,
    )
    with pytest.raises(Crash):
        engine.run(state)
    for obj in (w.target, w.router):
        for name in list(vars(obj)):
            if name in ("start", "wait_ready", "smoke", "retire", "set_weights", "remove"):
                delattr(obj, name)
    w.clock.on_sleep.clear()
    assert w.router.serving("course"), "traffic must always have somewhere to go"
    loaded = w.store.active("local", "course")
    if loaded is None:  # the crash came after the last step
        return
    fresh = w.engine()
    if then == "abort":
        if loaded.phase != "aborting":
            fresh.begin_abort(loaded, "aborted after a crash", actor="oncall")
    final = fresh.run(loaded)
    assert w.router.serving("course")
    if then == "resume":
        assert final.phase == SUCCEEDED, final.message
        live = w.router.serving("course")
        assert [w.target.version_in("course", s) for s in live] == ["v2"]
    else:
        assert final.phase == ABORTED, final.message
        live = w.router.serving("course")
        assert [w.target.version_in("course", s) for s in live] == ["v1"]
        assert len(w.target.slots("course")) == 1


def test_no_data_while_warming_up_is_not_a_failure_but_never_promotes(tmp_path: Path) -> None:
    w = World(tmp_path, scrape_interval=5.0)  # warm-up: two scrapes = 10 s after the canary gets traffic
    w.deploy("v1", "canary")
    calls = {"n": 0}

    def script(metric: str, slot: str, query: str) -> Any:
        calls["n"] += 1
        return None if calls["n"] <= 2 else GOOD[metric]  # the first round (at 5 s) finds nothing scraped yet

    w.metrics.script = script
    rules = AnalysisRules(metrics=RULES.metrics, interval=5.0, failure_limit=0, inconclusive_limit=0)
    w.settings.rules = rules
    final = w.deploy("v2", "canary", canary_steps=[(10, 10.0)])
    assert final.phase == SUCCEEDED, (
        final.message
    )  # failure_limit 0 and inconclusive_limit 0: warm-up did not count
    verdicts = [e.outcome for e in w.kinds("rollout.measurement")]
    assert verdicts[0] == "inconclusive" and "successful" in verdicts


def test_no_data_after_warm_up_fails(tmp_path: Path) -> None:
    w = World(tmp_path, ScriptedMetrics({"error-rate": None, "latency-p95": None}), scrape_interval=5.0)
    w.settings.rules = AnalysisRules(metrics=RULES.metrics, interval=5.0, failure_limit=1, inconclusive_limit=2)
    w.deploy("v1", "canary")
    final = w.deploy("v2", "canary", canary_steps=[(10, 60.0)])
    assert final.phase == ABORTED and "no data" in final.message and not final.promoted


def test_no_data_while_warming_up_is_retried_within_seconds_not_a_whole_interval(tmp_path: Path) -> None:
    """A new canary is scraped a few seconds after it gets traffic; analysis looks again every second until
    then, so a bad canary is judged on its first data instead of a whole interval later."""
    world: dict[str, World] = {}

    def canary_data(metric: str, slot: str, query: str) -> float | None:
        if slot != "canary":
            return 0.001 if metric == "error-rate" else 0.05
        if world["w"].clock.elapsed < 12.0:  # not scraped yet
            return None
        return 0.3 if metric == "error-rate" else 0.05

    w = World(tmp_path, ScriptedMetrics(script=canary_data), warmup=15.0)
    world["w"] = w
    w.deploy("v1", "canary")
    w.clock.elapsed = 0
    final = w.deploy("v2", "canary", canary_steps=CANARY_STEPS)
    assert final.phase == ABORTED
    outcomes = [e.outcome for e in w.kinds("rollout.measurement")]
    # every second from 1 s to 11 s no data yet (not counted); failures at 12 s, 22 s and 32 s (failure_limit 2:
    # the third aborts)
    assert outcomes == ["inconclusive"] * 11 + ["failed", "failed", "failed"]
    assert [e.details["counted"] for e in w.kinds("rollout.measurement")] == [False] * 11 + [True] * 3
    # a whole interval between tries would have aborted at 40 s
    assert w.clock.elapsed <= 12.0 + 2 * RULES.interval + 1.0
