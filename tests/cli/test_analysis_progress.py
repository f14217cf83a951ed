"""What a release engineer reads while a canary is analysed: one line per round with every metric (value,
threshold, verdict) and the user requests it is based on; "no traffic: …" instead of a latency figure."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from coursectl.cli._rollout_common import progress_printer, render_rollout, round_text
from coursectl.rollout.analysis import Measurement
from coursectl.rollout.state import RolloutState
from coursectl.rollout.steps import Pause, SetWeight, Step


def m(metric: str, value: float | None, verdict: str, reason: str, *, requests: float | None = 240.0,
      no_traffic: bool = False, at: str = "2026-01-01T12:00:05Z", **kw: Any) -> dict[str, Any]:  # fmt: skip
    bounds = {"error-rate": {"max": 0.01}, "latency-p95": {"max": 0.5}}[metric]
    return Measurement(
        metric=metric, slot="canary", query="…", value=value, verdict=verdict, reason=reason, at=at,
        requests=requests, min_requests=20, window="20s", round=2, weight=20, no_traffic=no_traffic,
        **bounds, **kw,
    ).to_dict()  # fmt: skip


def test_a_round_shows_every_metric_with_value_threshold_verdict_and_requests() -> None:
    line = round_text([
        m("error-rate", 0.002, "successful", "error-rate 0.2% ≤ 1%"),
        m("latency-p95", 0.045, "successful", "latency-p95 45 ms ≤ 500 ms"),
    ])  # fmt: skip
    assert line == (
        "analysis round 2 of canary at 20%: error-rate 0.2% ≤ 1% ok, latency-p95 45 ms ≤ 500 ms ok"
        " (240 requests in 20 s) → successful"
    )


def test_a_failing_error_rate_is_shown_even_when_latency_comes_last() -> None:
    line = round_text([
        m("error-rate", 0.3, "failed", "error-rate 30% > 1%"),
        m("latency-p95", 0.02, "successful", "latency-p95 20 ms ≤ 500 ms"),
    ])  # fmt: skip
    assert line.startswith("analysis round 2 of canary at 20%: error-rate 30% > 1% FAILED, latency-p95 20 ms")
    assert line.endswith("(240 requests in 20 s) → failed")


def test_no_traffic_is_said_instead_of_a_latency_figure() -> None:
    reason = "no traffic: 3 requests in 20 s, need 20"
    line = round_text([
        m("error-rate", 0.0, "inconclusive", reason, requests=3.0, no_traffic=True),
        m("latency-p95", 0.015, "inconclusive", reason, requests=3.0, no_traffic=True),
    ])  # fmt: skip
    assert "no traffic: 3 requests in 20 s, need 20" in line and "15 ms" not in line
    assert line.endswith("→ inconclusive")


def test_the_progress_printer_prints_a_line_per_round_and_per_step() -> None:
    lines: list[str] = []
    out = SimpleNamespace(progress=lines.append)
    show = progress_printer(out)  # type: ignore[arg-type]
    steps: list[Step] = [SetWeight(20), Pause(15.0, analyze=True)]
    state = RolloutState("local-canary", "course", "canary", "v2", "canary", "stable", steps=steps)
    show(state)
    state.step_index = 1
    show(state)
    state.measurements = [
        m("error-rate", 0.002, "successful", "error-rate 0.2% ≤ 1%"),
        m("latency-p95", 0.045, "successful", "latency-p95 45 ms ≤ 500 ms"),
    ]
    show(state)
    assert lines[-1].startswith("  analysis round 2 of canary at 20%: error-rate 0.2% ≤ 1% ok, latency-p95")
    assert sum("analysis round" in line for line in lines) == 1


def test_rollout_status_shows_the_last_round() -> None:
    from io import StringIO

    from rich.console import Console

    data = {
        "service": "course", "environment": "local-canary", "lock": None,
        "rollout": {
            "id": "abc", "kind": "deploy", "strategy": "canary", "from_version": "v1", "version": "v2",
            "phase": "paused", "step": 4, "steps": 10, "current_step": "pause 15 s with analysis",
            "message": "analysis inconclusive: no traffic: 3 requests in 20 s, need 20 on canary (3 rounds without"
                       " enough traffic)",
            "weights": {"canary": 20, "stable": 80},
            "analysis": {"successful": 0, "failed": 0, "errors": 0, "inconclusive": 3, "no_traffic": 3},
            "last_round": {"line": "error-rate: no traffic: 3 requests in 20 s, need 20"},
            "measurements": [],
        },
    }  # fmt: skip
    buf = StringIO()
    render_rollout(data)(Console(file=buf, width=200))
    text = buf.getvalue()
    assert "3 inconclusive (3 without enough traffic)" in text
    assert "last round: error-rate: no traffic: 3 requests in 20 s, need 20" in text
