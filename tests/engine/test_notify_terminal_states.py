"""Every rollout that ends announces its end exactly once, whichever way it ended (a property test over the
engine's terminal states: strategies, metrics, faults, operator requests, pauses resumed or aborted)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from coursectl.domain import Delivery, Notification
from coursectl.ledger import SqliteLedger
from coursectl.notify.dispatcher import NotificationService, RetryPolicy
from coursectl.notify.messages import FINAL_EVENTS, final_event
from coursectl.notify.routing import Route
from coursectl.notify.watcher import RolloutWatcher
from coursectl.rollout.analysis import AnalysisRules, MetricRule
from coursectl.rollout.engine import Engine, EngineSettings
from coursectl.rollout.plan import plan_rollout
from coursectl.rollout.state import FINAL, PAUSED, PROGRESSING, RolloutState
from coursectl.rollout.store import RolloutStore
from coursectl.testing import FakeRouter, FakeTarget, FrozenClock, ScriptedMetrics

RULES = AnalysisRules(
    metrics=(MetricRule("error-rate", max=0.01), MetricRule("latency-p95", max=0.5)),
    interval=10.0, failure_limit=1, inconclusive_limit=2,
)


class Recorder:
    """A notifier that keeps what it was sent and can edit it (like Slack with a bot token)."""

    name = "slack"
    supports_update = True

    def __init__(self) -> None:
        self.sent: list[tuple[Notification, str | None]] = []

    def send(self, notification: Notification, *, update: str | None = None) -> Delivery:
        self.sent.append((notification, update))
        ref = update or f"C1:{len(self.sent)}"
        return Delivery(self.name, notification.event, "updated" if update else "sent", ref=ref)


def _roll(tmp: Path, scenario: dict[str, Any]) -> tuple[list[RolloutState], Recorder, list[Notification]]:
    ledger = SqliteLedger(tmp / "ledger.db")
    recorder = Recorder()
    service = NotificationService({"slack": recorder}, [Route(("*",), (), "info", ("slack",))], ledger=ledger,
                                  retry=RetryPolicy(1, 0, 0), sleep=lambda _s: None)
    published: list[Notification] = []

    def publish(n: Notification) -> None:
        published.append(n)
        service.publish(n)

    watcher = RolloutWatcher(publish)
    clock, store, target, router = FrozenClock(), RolloutStore(ledger), FakeTarget({"course": 8002}), FakeRouter()
    values = {"error-rate": scenario["error_rate"], "latency-p95": 0.05}
    metrics = ScriptedMetrics(values)
    settings_ = EngineSettings(rules=RULES, on_failure=scenario["on_failure"])

    def engine() -> Engine:
        return Engine(target=target, router=router, store=store, clock=clock, metrics=metrics,
                      settings=settings_, on_change=watcher)

    finals: list[RolloutState] = []
    for version in ("v1", "v2"):
        running = {s.slot: s for s in target.slots("course")}
        state = plan_rollout(environment="prod", service="course", version=version, strategy=scenario["strategy"],
                             weights=router.weights("course"), running=running, actor="tester",
                             canary_steps=[(20, 30.0), (50, 30.0)], scale_down_delay=15.0,
                             post_analysis=20.0 if scenario["post_analysis"] else None)
        store.save(state)
        if version == "v2":
            fault = scenario["fault"]
            if fault == "smoke":
                target.fail_smoke.add("v2")
            elif fault == "ready":
                target.fail_ready.add("v2")
            elif fault == "start":
                target.fail_start.add("v2")
            elif fault == "router":
                router.verifies = False
            if scenario["request"]:
                what, at = scenario["request"]
                clock.on_sleep.append(lambda t, s=state, w=what, a=at: t >= a and store.post_request(s.id, w, "op"))
        state = engine().run(state)
        for decision in scenario["after_pause"]:
            if state.phase in FINAL:
                break
            if state.phase == PAUSED and decision == "resume":
                metrics.values["error-rate"] = 0.001
                state.move(PROGRESSING, "resumed by op")
                store.save(state)
            elif state.phase != PAUSED or decision == "abort":
                engine().begin_abort(state, "aborted by op", actor="op")
            state = engine().run(state)
        if state.phase not in FINAL:
            engine().begin_abort(state, "aborted at the end of the drill", actor="op")
            state = engine().run(state)
        clock.on_sleep.clear()
        router.verifies = True
        finals.append(state)
    service.drain(5)
    ledger.close()
    return finals, recorder, published


EXPECTED = {"succeeded": "deploy.promoted", "aborted": "deploy.aborted", "failed": "deploy.failed"}

SCENARIOS = hs.fixed_dictionaries({
    "strategy": hs.sampled_from(["blue-green", "canary", "rolling", "recreate"]),
    "error_rate": hs.sampled_from([0.001, 0.5, None, "error"]),
    "on_failure": hs.sampled_from(["abort", "pause"]),
    "post_analysis": hs.booleans(),
    "fault": hs.sampled_from([None, "smoke", "ready", "start", "router"]),
    "request": hs.none() | hs.tuples(hs.sampled_from(["abort", "pause", "promote", "promote-full"]),
                                     hs.floats(0, 120)),
    "after_pause": hs.lists(hs.sampled_from(["resume", "abort"]), max_size=3),
})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCENARIOS)
def test_every_rollout_that_ends_announces_its_end_exactly_once(scenario: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        finals, recorder, published = _roll(Path(tmp), scenario)
    for state in finals:
        assert state.phase in FINAL
        mine = [n for n in published if n.key == state.id]
        ends = [n for n in mine if n.final]
        assert len(ends) == 1, [n.event for n in mine]
        assert ends[0].event == EXPECTED[state.phase] == final_event(state.kind, state.phase)
        assert mine[-1] is ends[0], "nothing is announced about a rollout after its end"
        # the channel got that one end too, as an update of the rollout's one message when there was one
        delivered = [(n, update) for n, update in recorder.sent if n.key == state.id and n.final]
        assert len(delivered) == 1
        posts = [n for n, update in recorder.sent if n.key == state.id and update is None]
        assert len(posts) == 1, "one message per rollout; everything after it edits that message"
        assert all(n.event in FINAL_EVENTS for n in ends)


def test_the_scenarios_reach_every_terminal_phase() -> None:
    """The property above is only as good as its scenarios: they end succeeded, aborted and failed."""
    import random

    seen: set[str] = set()
    rng = random.Random(7)
    for _ in range(60):
        scenario = {
            "strategy": rng.choice(["blue-green", "canary", "rolling", "recreate"]),
            "error_rate": rng.choice([0.001, 0.5, None, "error"]),
            "on_failure": rng.choice(["abort", "pause"]),
            "post_analysis": rng.random() < 0.5,
            "fault": rng.choice([None, "smoke", "ready", "start", "router"]),
            "request": None,
            "after_pause": [rng.choice(["resume", "abort"])],
        }
        with tempfile.TemporaryDirectory() as tmp:
            finals, _, _ = _roll(Path(tmp), scenario)
        seen |= {s.phase for s in finals}
    assert seen == {"succeeded", "aborted", "failed"}
