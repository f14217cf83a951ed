"""The one loader: every YAML document in tests/specs/ is a table of cases for one pure function."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from coursectl.rollout import analysis, state, steps, weights
from coursectl.rollout.plan import plan_rollout

HERE = Path(__file__).parent


def _short(typed: steps.Step) -> str:
    step = steps.to_dict(typed)
    kind = step["kind"]
    if kind in ("start", "ready", "smoke", "observed", "retire"):
        return f"{kind} {step['slot']}"
    if kind == "weight":
        return f"weight {step['weight']}"
    if kind == "pause":
        d = step["duration"]
        return f"pause {d if d is None else f'{d:g}'}" + (" analyze" if step.get("analyze") else "")
    if kind == "delay":
        return f"delay {step['duration']:g}"
    return kind


def _judge(case: dict[str, Any]) -> Any:
    rule = analysis.MetricRule(**case["rule"])
    verdict, reason = analysis.judge(
        rule,
        value=case.get("value"),
        error=case.get("error"),
        stable_value=case.get("stable"),
        compare_with_stable=case.get("compare", False),
        requests=case.get("requests", 1000),
        window=case.get("window", "20s"),
    )
    return [verdict, reason]


def _decide(case: dict[str, Any]) -> Any:
    tally = analysis.Tally()
    for verdict in case["verdicts"]:
        tally.add(verdict.removesuffix(" no-traffic"), no_traffic=verdict.endswith(" no-traffic"))
    return analysis.decide(
        tally, failure_limit=case["failure_limit"], inconclusive_limit=case["inconclusive_limit"]
    )


class _Slot:
    def __init__(self, version: str):
        self.version, self.digest = version, None


def _plan(case: dict[str, Any]) -> Any:
    rollout = plan_rollout(
        environment="local",
        service="course",
        version="v9",
        strategy=case["strategy"],
        weights=case["weights"],
        running={s: _Slot(v) for s, v in case["running"].items()},
        canary_steps=[tuple(x) for x in case.get("canary_steps", [])],
        post_analysis=case.get("post_analysis"),
        scale_down_delay=case.get("scale_down_delay", 0),
    )
    return {"new": rollout.new_slot, "stable": rollout.stable_slot, "steps": [_short(s) for s in rollout.steps]}


def _abort(case: dict[str, Any]) -> Any:
    plan = steps.abort_plan(
        strategy="canary", stable=case["stable"], new=case["new"], stable_replaced=case["stable_replaced"]
    )
    return [_short(s) for s in plan]


def _retention(case: dict[str, Any]) -> Any:
    from datetime import UTC, datetime

    from coursectl.backup import retention

    items = [retention.Item(t, datetime.fromisoformat(t).replace(tzinfo=UTC)) for t in case["times"]]
    plan = retention.apply(items, retention.Policy(**case["policy"]), timezone=case.get("timezone", "UTC"),
                           protect=case.get("protect"))
    return [[d.item.id, list(d.reasons)] for d in plan.keep]


CASE_FUNCTIONS = {"judge": _judge, "decide": _decide, "plan_rollout": _plan, "abort_plan": _abort,
                  "retention": _retention}
ARG_FUNCTIONS = {
    "split": weights.split,
    "to_server_weights": weights.to_server_weights,
    "to_percents": weights.to_percents,
    "canary_weights": weights.canary_weights,
    "worst": analysis.worst,
    "can_move": state.can_move,
}


def _cases() -> list[Any]:
    found = []
    for path in sorted(HERE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for i, case in enumerate(doc["cases"]):
                name = case.get("name", str(i))
                found.append(pytest.param(doc["function"], case, id=f"{path.stem}:{doc['function']}:{name}"))
    return found


@pytest.mark.parametrize(("function", "case"), _cases())
def test_spec(function: str, case: dict[str, Any]) -> None:
    if function in CASE_FUNCTIONS:
        run = lambda: CASE_FUNCTIONS[function](case)  # noqa: E731
    else:
        run = lambda: ARG_FUNCTIONS[function](*case["args"])  # noqa: E731
    if "raises" in case:
        with pytest.raises(Exception) as info:
            run()
        assert type(info.value).__name__ == case["raises"]
        return
    got = run()
    if isinstance(got, float) and math.isnan(got):
        got = None
    assert got == case["expect"]
