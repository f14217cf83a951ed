"""SonarQube parsers on every real sample: report-task.txt variants, CE tasks, gate status old and new."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest

from coursectl.parsers import sonarqube as sq
from tests.conftest import FIXTURES, fixture_files, needs_fixtures

REPORT_TASKS = fixture_files("sonarqube/report-task/**/*.txt")


def load(name: str) -> object:
    return json.loads((FIXTURES / "sonarqube" / name).read_text())


@needs_fixtures
@pytest.mark.parametrize("path", REPORT_TASKS, ids=[str(p.relative_to(FIXTURES / "sonarqube/report-task"))
                                                    for p in REPORT_TASKS])
def test_every_report_task(path: Path) -> None:
    values = sq.parse_report_task(path.read_text())
    task = sq.report_task_from(values)
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert len(values) == len(lines)
    assert task.ce_task_url.endswith(f"id={task.ce_task_id}")
    assert task.dashboard_url.startswith(task.server_url)
    assert task.project_key in unquote(task.dashboard_url)


@needs_fixtures
def test_report_task_known_values() -> None:
    task = sq.report_task_from(sq.parse_report_task((FIXTURES / "sonarqube/report-task/report-task.txt").read_text()))
    assert task.server_url == "https://sq.emarcusson.se"
    assert task.server_version == "10.4.1.88267"
    assert task.ce_task_id == "57a16d4e-f48a-4277-8ad4-d5a577545b9c"
    assert len(REPORT_TASKS) >= 4
    org = sq.parse_report_task(
        (FIXTURES / "sonarqube/report-task/from-ReportPublisherTest/report-task.txt").read_text())
    assert sq.report_task_from(org).organization
    pr = sq.parse_report_task(
        (FIXTURES / "sonarqube/report-task/from-ReportPublisherTest/report-task-pull-request.txt").read_text())
    assert sq.report_task_from(pr).dashboard_url.endswith("&pullRequest=105")


def test_report_task_missing_keys() -> None:
    with pytest.raises(ValueError, match="ceTaskId"):
        sq.report_task_from(sq.parse_report_task("projectKey=a\nserverUrl=http://x\n"))


@needs_fixtures
@pytest.mark.parametrize("name", ["webapi-examples/task-example.json", "sonar-scanner-jenkins/ce_task.json"])
def test_ce_task_success(name: str) -> None:
    task = sq.parse_task(load(name))
    assert task.status == "SUCCESS" and task.done and task.analysis_id


@needs_fixtures
def test_ce_component_pending_and_failed() -> None:
    data = load("webapi-examples/component-example.json")
    pending = sq.parse_task(data["queue"][0])
    failed = sq.parse_task(data["current"])
    assert (pending.status, pending.done, pending.analysis_id) == ("PENDING", False, None)
    assert (failed.status, failed.done, failed.error_message) == ("FAILED", True, "the error message")


@needs_fixtures
def test_ce_activity_tasks_parse() -> None:
    for task in load("webapi-examples/activity-example.json")["tasks"]:
        assert sq.parse_task(task).status in sq.CE_STATES


@needs_fixtures
def test_project_status_new_style_error() -> None:
    status = sq.parse_project_status(load("webapi-examples/project_status-example.json"))
    assert status.status == "ERROR" and status.cayc_status == "non-compliant"
    assert len(status.conditions) == 7
    assert [c.metric for c in status.failed_conditions] == [
        "new_coverage", "new_blocker_violations", "new_critical_violations", "open_issues"]
    coverage = status.conditions[0].to_dict()
    assert coverage["comparator"] == "LT" and coverage["threshold_value"] == 85.0
    assert coverage["actual_value"] == pytest.approx(82.50562381034781)
    assert status.conditions[4].threshold is None  # thresholds may be missing
    assert status.period["mode"] == "last_version"


@needs_fixtures
def test_project_status_old_style_error_and_ok() -> None:
    old = sq.parse_project_status(load("webapi-examples-older/project_status-example.json"))
    assert old.status == "ERROR" and old.period.get("index") == 1
    assert any(c.period_index == 1 for c in old.conditions)
    ok = sq.parse_project_status(load("sonar-scanner-jenkins/projectStatus.json"))
    assert ok.status == "OK" and not ok.failed_conditions and len(ok.conditions) == 3


@needs_fixtures
def test_error_body() -> None:
    assert sq.error_messages(load("sonar-scanner-jenkins/error.json")) == ["Insufficient privileges"]


def test_unknown_states_are_tolerated() -> None:
    assert sq.parse_project_status({"projectStatus": {"status": "MAYBE"}}).status == "NONE"
    assert sq.parse_project_status({}).status == "NONE"
    assert sq.parse_task({}).status == "UNKNOWN"
