"""Canary analysis on real traffic only, through the command line: local slot processes that count their own
health checks and scrapes (as the platform's services do) behind a real HAProxy edge that health-checks them
every second, a real Prometheus scraping every second."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.testing.drill import Drill, free_port, seconds_to_stable
from coursectl.testing.load import LoadGenerator
from coursectl.testing.prom import LocalPrometheus

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing"),
    pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus missing"),
]

INTERVAL = 3.0


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Drill]:
    prom = LocalPrometheus(tmp_path / "prom", free_port()).start()
    d = Drill(tmp_path, prom_url=prom.url, file_sd=prom.file_sd, interval=INTERVAL, pause=3 * INTERVAL)
    try:
        assert d.run("deploy", "course", "--env", "canary", "--version", "v1").returncode == 0
        yield d
    finally:
        d.cleanup()
        prom.stop()


def _status(d: Drill) -> dict:  # type: ignore[type-arg]
    r = d.run("status", "--env", "canary", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["services"][0]  # type: ignore[no-any-return]


def test_a_canary_that_only_health_checks_reach_is_never_promoted(drill: Drill) -> None:
    r = drill.run("deploy", "course", "--env", "canary", "--version", "v2")
    assert r.returncode == 6, r.stderr  # on_no_traffic: pause (the default)
    assert "no traffic: 0 requests in 20 s, need 20" in r.stderr
    assert "analysis round" in r.stderr and "error-rate: no traffic" in r.stderr
    status = _status(drill)
    assert status["version"] == "v1" and status["weights"]["stable"] == 70  # the first step's 30 % canary
    shown = drill.run("rollout", "status", "course", "--env", "canary", "-o", "json")
    rollout = json.loads(shown.stdout)["rollout"]
    assert rollout["phase"] == "paused" and rollout["analysis"]["successful"] == 0
    # the slots did answer health checks and scrapes all along: Prometheus counted them, analysis left them out
    assert any("http_requests_total" in m["query"] and m["requests"] == 0 for m in rollout["measurements"])
    assert drill.run("rollout", "abort", "course", "--env", "canary").returncode == 0
    assert _status(drill)["weights"] == {"stable": 100}


def test_on_no_traffic_abort_takes_the_canary_back(drill: Drill) -> None:
    text = drill.config.read_text()
    drill.config.write_text(text.replace("  canary:\n", "  canary:\n    on_no_traffic: abort\n"))
    r = drill.run("deploy", "course", "--env", "canary", "--version", "v2")
    assert r.returncode == 7, r.stderr
    assert "no traffic:" in r.stderr and "on_no_traffic: abort" in r.stderr
    status = _status(drill)
    assert status["version"] == "v1" and status["weights"] == {"stable": 100} and len(status["slots"]) == 1


def test_a_bad_canary_at_10_requests_per_second_is_back_on_stable_within_3_intervals(drill: Drill) -> None:
    load = LoadGenerator(drill.url, connections=2, rate_per_conn=5).start()  # 10 requests/s through the edge
    try:
        r = drill.run(
            "deploy", "course", "--env", "canary", "--version", "v2", "--set-env", "FAULT_ERROR_RATE=0.3"
        )
    finally:
        result = load.stop()
    assert r.returncode == 7, r.stderr
    assert "error-rate" in r.stderr and "requests" in r.stderr
    seconds = seconds_to_stable(drill.state, "canary", "course")
    shown = drill.run("rollout", "status", "course", "--env", "canary", "-o", "json")
    rollout = json.loads(shown.stdout)["rollout"]
    rounds = [(m["at"], m["metric"], m["verdict"], m["requests"], m["reason"]) for m in rollout["measurements"]]
    assert seconds is not None and seconds <= 3 * INTERVAL + 1.0, f"{seconds} s with traffic: {rounds}"
    assert _status(drill)["version"] == "v1"
    assert sum(n for s, n in result.statuses.items() if s.startswith("error")) == 0
