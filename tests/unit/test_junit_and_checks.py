"""JUnit XML of coursectl's checks (exact), the load test's judging, and `coursectl test` on a tiny project."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from coursectl.api.journey import JourneyStep
from coursectl.api.loadtest import LoadReport, Thresholds, judge, percentile
from coursectl.domain import GateCondition
from coursectl.render.junit import Case, gate_cases, journey_cases, measurement_cases, to_xml

Cli = Callable[..., tuple[int, str, str]]


def test_junit_document_exactly() -> None:
    xml = to_xml("coursectl journey (staging)", [
        Case("journey.staging", "log in", time=0.25, output="POST /api/user/login: 200 (expected 200)"),
        Case("journey.staging", "who am I", failure="GET /api/user/me: 500 (expected 200)", kind="JourneyStep"),
        Case("analysis.prod.course.canary", "error-rate @ t", error="provider down\x1b[2J", kind="MetricsProvider"),
        Case("analysis.prod.course.canary", "latency-p95 @ t", skipped="no data"),
    ])
    assert xml == """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="coursectl journey (staging)" tests="4" failures="1" errors="1" skipped="1" time="0.250">
  <testsuite name="coursectl journey (staging)" tests="4" failures="1" errors="1" skipped="1" time="0.250">
    <testcase classname="journey.staging" name="log in" time="0.250">
      <system-out>POST /api/user/login: 200 (expected 200)</system-out>
    </testcase>
    <testcase classname="journey.staging" name="who am I">
      <failure message="GET /api/user/me: 500 (expected 200)" type="JourneyStep">GET /api/user/me: 500 (expected 200)</failure>
    </testcase>
    <testcase classname="analysis.prod.course.canary" name="error-rate @ t">
      <error message="provider down[2J" type="MetricsProvider">provider down[2J</error>
    </testcase>
    <testcase classname="analysis.prod.course.canary" name="latency-p95 @ t">
      <skipped message="no data" />
    </testcase>
  </testsuite>
</testsuites>
"""


def test_check_cases_map_verdicts() -> None:
    conditions = [GateCondition("coverage", "ERROR", "LT", "80", "71.2"), GateCondition("bugs", "OK", "GT", "0", "0")]
    cases = gate_cases("course-platform", conditions, "ERROR")
    assert [(c.name, c.failure) for c in cases] == [
        ("coverage", "coverage is 71.2 (fails when < 80)"), ("bugs", None)]
    steps = [JourneyStep("log in", True, "200"), JourneyStep("browse", False, "GET /x: 503 (expected 200)")]
    assert [(c.classname, c.failure) for c in journey_cases("staging", steps)] == [
        ("journey.staging", None), ("journey.staging", "GET /x: 503 (expected 200)")]
    rollout = {"id": "r1", "environment": "prod", "service": "course", "measurements": [
        {"metric": "error-rate", "slot": "canary", "at": "t1", "value": 0.3, "verdict": "failed", "reason": "> 0.01"},
        {"metric": "latency-p95", "slot": "canary", "at": "t1", "value": None, "verdict": "inconclusive",
         "reason": "no data"},
        {"metric": "error-rate", "slot": "canary", "at": "t0", "value": 0.0, "verdict": "successful", "reason": "ok"},
    ]}
    cases = measurement_cases([rollout, {"id": "r2", "environment": "prod", "service": "user", "measurements": []}])
    assert [(c.failure is not None, c.skipped is not None) for c in cases] == [
        (True, False), (False, True), (False, False), (False, True)]


def test_load_test_judging() -> None:
    assert percentile([0.1, 0.2, 0.3, 0.4], 0.95) == 0.385  # NumPy's linear interpolation
    report = LoadReport("http://x", target_rps=10, duration=2, sent=20, failed=1, latencies=[0.1] * 19 + [0.9],
                        elapsed=2.0)
    assert judge(report, Thresholds(p95_max=0.5, error_rate_max=0.1)) == [
        ("latency-p95", report.p95, 0.5, True), ("error-rate", 0.05, 0.1, True), ("rate-reached", 1.0, 0.9, True)]
    slow = LoadReport("http://x", target_rps=100, duration=2, sent=20, failed=0, latencies=[0.1] * 20, elapsed=2.0)
    assert [ok for *_, ok in judge(slow, Thresholds(0.5, 0.01))] == [True, True, False]  # the rate was not reached
    empty = LoadReport("http://x", target_rps=10, duration=2)
    assert [ok for *_, ok in judge(empty, Thresholds(0.5, 0.01))] == [False, False, False]  # no data never passes


def test_coursectl_test_runs_the_platforms_tests_with_a_junit_report(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "svc" / "good" / "tests").mkdir(parents=True)
    (root / "svc" / "good" / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (root / "svc" / "bad" / "tests").mkdir(parents=True)
    (root / "svc" / "bad" / "tests" / "test_bad.py").write_text("def test_bad():\n    assert 1 == 2\n")
    (root / "coursectl.yaml").write_text("""project: t
default_environment: local
services:
  good: {path: svc/good, port: 8001}
  bad: {path: svc/bad, port: 8002}
  empty: {path: svc/empty, port: 8003}
registry: {url: 127.0.0.1:5000}
build: {context: svc, shared: []}
environments:
  local: {target: docker}
""")
    cfg = str(root / "coursectl.yaml")
    code, out, err = cli("-c", cfg, "test", "unit", "good", "--junit", str(tmp_path / "good.xml"), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["tests"] == 1
    assert ET.parse(tmp_path / "good.xml").getroot().find(".//testcase").get("name") == "test_ok"  # type: ignore[union-attr]
    code, _, err = cli("-c", cfg, "test", "unit", "--junit", str(tmp_path / "all.xml"))
    assert code == 6 and "1 failed" in err and (tmp_path / "all.xml").exists()
    code, _, err = cli("-c", cfg, "test", "unit", "empty", "--junit", str(tmp_path / "e.xml"))
    assert code == 4 and "no unit test folders" in err
    code, _, err = cli("-c", cfg, "test", "smoke")
    assert code == 2


def test_cli_spec_describes_every_command(cli: Cli) -> None:
    code, out, _ = cli("cli-spec", "-o", "json")
    spec = json.loads(out)
    names = {c["path"][0] for c in spec["root"]["commands"]}
    assert {"deploy", "scan", "notify", "cli-spec", "journey", "loadtest", "test", "rollout"} <= names
    scan = next(c for c in spec["root"]["commands"] if c["path"] == ["scan"])
    fmt = next(o for o in scan["options"] if o["name"] == "fmt")
    assert fmt["names"] == ["--format", "-f"] and fmt["choices"] == ["table", "json", "sarif", "junit"]
    code, out, _ = cli("cli-spec")
    assert "coursectl notify test --channel" in out
