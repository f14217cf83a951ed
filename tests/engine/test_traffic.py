"""Analysis judges user traffic: min_requests, on_no_traffic, and inconclusive never promotes (engine + fakes)."""

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

GOOD = {"error-rate": 0.0, "latency-p95": 0.015}  # what a canary answering only health checks looks like


def rules(**kw: Any) -> AnalysisRules:
    base: dict[str, Any] = dict(
        metrics=(MetricRule("error-rate", max=0.01), MetricRule("latency-p95", max=0.5)),
        interval=5.0,
        failure_limit=1,
        inconclusive_limit=2,
    )
    base.update(kw)
    return AnalysisRules(**base)


class World:
    def __init__(self, tmp_path: Path, provider: ScriptedMetrics, **rule_kw: Any):
        self.ledger = SqliteLedger(tmp_path / "ledger.db")
        self.clock = FrozenClock()
        self.store = RolloutStore(self.ledger)
        self.target = FakeTarget({"course": 8002})
        self.router = FakeRouter()
        self.metrics = provider
        self.settings = EngineSettings(rules=rules(**rule_kw), scrape_interval=5.0)

    def deploy(self, version: str, strategy: str = "canary", **kw: Any) -> RolloutState:
        state = plan_rollout(
            environment="local-canary",
            service="course",
            version=version,
            strategy=strategy,
            weights=self.router.weights("course"),
            running={s.slot: s for s in self.target.slots("course")},
            actor="tester",
            digest=f"sha256:{version}",
            **kw,
        )
        self.store.save(state)
        engine = Engine(
            target=self.target,
            router=self.router,
            store=self.store,
            clock=self.clock,
            metrics=self.metrics,
            settings=self.settings,
        )
        return engine.run(state)

    def measurements(self) -> list[Any]:
        return self.ledger.events(kinds=["rollout.measurement"], newest_first=False)

    def close(self) -> None:
        self.ledger.close()


@pytest.fixture
def make(tmp_path: Path) -> Any:
    worlds: list[World] = []

    def factory(provider: ScriptedMetrics, **rule_kw: Any) -> World:
        w = World(tmp_path / str(len(worlds)), provider, **rule_kw)
        worlds.append(w)
        return w

    for i in range(4):
        (tmp_path / str(i)).mkdir()
    yield factory
    for w in worlds:
        w.close()


STEPS = [(20, 15.0), (50, 15.0)]


def _first_release(w: World, strategy: str = "canary") -> None:
    assert w.deploy("v1", strategy).phase == SUCCEEDED  # a first deployment is not analysed
    w.clock.elapsed = 0.0


def test_a_canary_without_traffic_pauses_for_a_human_and_never_promotes(make: Any) -> None:
    w = make(ScriptedMetrics(GOOD, requests=3.0))  # the values look perfect: health checks only
    _first_release(w)
    final = w.deploy("v2", canary_steps=STEPS)
    assert final.phase == PAUSED and not final.promoted
    assert "no traffic: 3 requests in 20 s, need 20" in final.message
    assert "on_no_traffic: pause" in final.message and "rollout resume" in final.message
    assert w.router.weights("course") == {"canary": 20, "stable": 80}  # left as it was for a human
    assert w.target.version_in("course", "stable") == "v1"
    counted = [e for e in w.measurements() if e.details["counted"]]
    assert [e.outcome for e in counted] == ["inconclusive"] * 3 and all(e.details["no_traffic"] for e in counted)
    m = counted[-1].details["measurements"]
    assert {x["metric"] for x in m} == {"error-rate", "latency-p95"}
    assert all(x["requests"] == 3.0 and x["min_requests"] == 20 and x["no_traffic"] for x in m)


def test_a_canary_without_traffic_is_aborted_with_on_no_traffic_abort(make: Any) -> None:
    w = make(ScriptedMetrics(GOOD, requests=0.0), on_no_traffic="abort")
    _first_release(w)
    final = w.deploy("v2", canary_steps=STEPS)
    assert final.phase == ABORTED and not final.promoted
    assert "no traffic: 0 requests in 20 s, need 20" in final.message and "on_no_traffic: abort" in final.message
    assert w.router.serving("course") == ["stable"] and w.target.version_in("course", "canary") is None
    assert w.ledger.events(kinds=["deployment"])[0].details["status"] == "rolled_back"


def test_inconclusive_rounds_never_promote_even_long_after_the_pause_ended(make: Any) -> None:
    # plenty of inconclusive room: the pauses' time runs out long before the limit is reached
    w = make(ScriptedMetrics(GOOD, requests=5.0), inconclusive_limit=50)
    _first_release(w)
    final = w.deploy("v2", canary_steps=[(20, 5.0)])
    assert final.phase == PAUSED and not final.promoted
    assert w.clock.elapsed > 50 * 5.0  # it kept looking well beyond the 5 s pause, never promoting
    assert all(e.outcome == "inconclusive" for e in w.measurements())


def test_a_pause_ends_only_after_a_successful_round_on_real_traffic(make: Any) -> None:
    world: dict[str, World] = {}

    def traffic(slot: str) -> float:
        return 0.0 if world["w"].clock.elapsed < 40.0 else 240.0  # users arrive 40 s into the canary

    w = make(ScriptedMetrics(GOOD, requests=None), inconclusive_limit=50)
    w.metrics.values["requests"] = traffic
    world["w"] = w
    _first_release(w)
    final = w.deploy("v2", canary_steps=[(20, 10.0)])
    assert final.phase == SUCCEEDED and final.promoted
    outcomes = [e.outcome for e in w.measurements()]
    first_ok = outcomes.index("successful")
    assert set(outcomes[:first_ok]) == {"inconclusive"}
    successful = w.measurements()[first_ok].details["measurements"]
    assert all(m["requests"] == 240.0 for m in successful)
    assert w.clock.elapsed >= 40.0


def test_a_bad_canary_on_little_traffic_fails_without_waiting_for_min_requests(make: Any) -> None:
    # 10 requests/s through the edge, 20 % to the canary: 2 requests/s, 30 % of them errors
    world: dict[str, World] = {}

    def canary_requests(slot: str) -> float:
        return min(40.0, 2.0 * world["w"].clock.elapsed) if slot == "canary" else 160.0

    metrics = ScriptedMetrics({("error-rate", "canary"): 0.3, **GOOD}, requests=None)
    metrics.values["requests"] = canary_requests
    w = make(metrics)
    world["w"] = w
    _first_release(w)
    final = w.deploy("v2", canary_steps=STEPS)
    assert final.phase == ABORTED
    assert w.clock.elapsed <= 3 * 5.0  # within 3 analysis intervals of its first weighted traffic
    assert "error-rate 30% > 1%" in final.message and "requests" in final.message
    first = w.measurements()[0].details["measurements"][0]
    assert first["verdict"] == "failed" and first["requests"] < 20  # failed before min_requests was reached


def test_blue_green_post_promotion_analysis_without_traffic_switches_back(make: Any) -> None:
    w = make(ScriptedMetrics(GOOD, requests=2.0), on_no_traffic="abort")
    _first_release(w, "blue-green")
    final = w.deploy("v2", "blue-green", post_analysis=30.0, scale_down_delay=10.0)
    assert final.phase == ABORTED and not final.promoted
    assert "no traffic: 2 requests in 20 s, need 20" in final.message
    assert w.router.serving("course") == ["blue"] and w.target.version_in("course", "blue") == "v1"


def test_blue_green_post_promotion_analysis_without_traffic_pauses_by_default(make: Any) -> None:
    w = make(ScriptedMetrics(GOOD, requests=0.0))
    _first_release(w, "blue-green")
    final = w.deploy("v2", "blue-green", post_analysis=30.0, scale_down_delay=10.0)
    assert final.phase == PAUSED and not final.promoted and "no traffic" in final.message
    assert w.target.version_in("course", "blue") == "v1"  # the old colour is still there to go back to


def test_min_requests_per_metric(make: Any) -> None:
    metric_rules = (MetricRule("error-rate", max=0.01), MetricRule("latency-p95", max=0.5, min_requests=500))
    w = make(ScriptedMetrics(GOOD, requests=240.0), metrics=metric_rules, on_no_traffic="abort")
    _first_release(w)
    final = w.deploy("v2", canary_steps=STEPS)
    assert final.phase == ABORTED and "240 requests in 20 s, need 500" in final.message
    last = w.measurements()[-1].details["measurements"]
    verdicts = [(m["metric"], m["verdict"]) for m in last]
    assert verdicts == [("error-rate", "successful"), ("latency-p95", "inconclusive")]


def test_the_engine_asks_one_request_count_per_round(make: Any) -> None:
    w = make(ScriptedMetrics(GOOD))
    _first_release(w)
    assert w.deploy("v2", canary_steps=[(20, 5.0)]).phase == SUCCEEDED
    counts = [q for q in w.metrics.queries if q.startswith("sum(increase(")]
    values = [q for q in w.metrics.queries if "histogram_quantile" in q and 'slot="canary"' in q]
    assert counts and len(counts) == len(values)
    judged = [q for q in w.metrics.queries if not q.startswith("count_over_time(up")]
    assert all('route!~"/health/.*|/metrics|/version"' in q for q in judged)


def test_no_user_reaches_a_canary_before_prometheus_scrapes_it(make: Any) -> None:
    world: dict[str, World] = {}

    def scrapes(slot: str) -> float:
        return 0.0 if world["w"].clock.elapsed < 7.0 else 2.0  # a new target is picked up after a few seconds

    w = make(ScriptedMetrics(GOOD))
    w.metrics.values["scrapes"] = scrapes
    world["w"] = w
    _first_release(w)
    weights_at: list[tuple[float, int]] = []
    real = w.router.set_weights

    def record(service: str, weights: Any, addresses: Any) -> None:
        weights_at.append((w.clock.elapsed, weights.get("canary", 0)))
        real(service, weights, addresses)

    w.router.set_weights = record  # type: ignore[method-assign]
    assert w.deploy("v2", canary_steps=STEPS).phase == SUCCEEDED
    first_traffic = next(t for t, weight in weights_at if weight > 0)
    assert first_traffic >= 7.0  # only once the canary was being scraped
    assert any("count_over_time(up" in q and 'slot="canary"' in q for q in w.metrics.queries)


def test_a_canary_prometheus_never_scrapes_still_goes_on_and_is_never_promoted(make: Any) -> None:
    w = make(ScriptedMetrics(GOOD, requests=None), on_no_traffic="abort")
    w.metrics.values["scrapes"] = None
    w.settings.observe_timeout = 20.0
    _first_release(w)
    final = w.deploy("v2", canary_steps=STEPS)
    assert final.phase == ABORTED and not final.promoted
    unobserved = [e for e in w.ledger.events(kinds=["rollout.step"]) if e.outcome == "unobserved"]
    assert len(unobserved) == 1 and unobserved[0].details["slot"] == "canary"


def test_a_new_slot_is_judged_on_its_own_series_not_its_predecessors(make: Any) -> None:
    """A slot reused by the next rollout of the same version with another environment (a drill's --set-env)
    must not be judged on what its previous occupant left in the rate() window: where the target labels its
    series with the slot's fingerprint (`spec`), every query about the new slot asks for that fingerprint."""
    import re

    w = make(ScriptedMetrics(dict(GOOD)))
    w.settings = EngineSettings(rules=rules(), scrape_interval=5.0, spec_label=True)
    w.deploy("v1")
    w.deploy("v1", set_env={"FAULT_ERROR_RATE": "0.3"})
    before = {s.fingerprint for s in w.target.slots("course")}
    w.metrics.queries.clear()
    second = w.deploy("v1", set_env={"FAULT_LATENCY_MS": "5"})
    assert second.phase == SUCCEEDED
    about_new = [q for q in w.metrics.queries if f'slot="{second.new_slot}"' in q]
    assert about_new
    specs = {m for q in about_new for m in re.findall(r'spec="([0-9a-f]+)"', q)}
    assert len(specs) == 1 and all("spec=" in q for q in about_new)
    assert specs <= {s.fingerprint for s in w.target.slots("course")} and not specs & before


def test_without_the_label_the_queries_do_not_ask_for_it(make: Any) -> None:
    w = make(ScriptedMetrics(dict(GOOD)))
    w.deploy("v1")
    assert w.deploy("v2").phase == SUCCEEDED
    assert w.metrics.queries and not any("spec=" in q for q in w.metrics.queries)
