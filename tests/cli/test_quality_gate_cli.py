"""`coursectl quality-gate` against a local HTTP server answering with SonarQube's real sample responses."""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from coursectl.cli import main
from coursectl.ledger import open_ledger
from tests.conftest import FIXTURES, needs_fixtures

pytestmark = needs_fixtures

SQ = FIXTURES / "sonarqube"
TOKEN = "squ_test_token_0123456789"


def sample(name: str) -> Any:
    return json.loads((SQ / name).read_text())


def pending() -> dict:
    return {"task": sample("webapi-examples/component-example.json")["queue"][0]}


def in_progress() -> dict:
    # No official IN_PROGRESS example exists: it is the SUCCESS task with startedAt and no executedAt/analysisId.
    task = copy.deepcopy(sample("webapi-examples/task-example.json"))
    task["task"]["status"] = "IN_PROGRESS"
    for key in ("analysisId", "executedAt", "executionTimeMs"):
        task["task"].pop(key, None)
    return task


def success() -> dict:
    return sample("webapi-examples/task-example.json")


def failed() -> dict:
    return {"task": sample("webapi-examples/component-example.json")["current"]}


class FakeSonar:
    """Serves api/ce/task answers in order (the last one repeats) and one api/qualitygates/project_status answer."""

    def __init__(self) -> None:
        self.tasks: list[dict] = [success()]
        self.gate: dict = sample("sonar-scanner-jenkins/projectStatus.json")
        self.status_code = 200
        self.error_body: dict = {}
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                fake.requests.append((url.path, parse_qs(url.query), self.headers.get("Authorization", "")))
                if fake.status_code != 200:
                    self._send(fake.status_code, fake.error_body)
                elif url.path == "/api/ce/task":
                    index = sum(1 for p, _, _ in fake.requests if p == "/api/ce/task") - 1
                    self._send(200, fake.tasks[min(index, len(fake.tasks) - 1)])
                elif url.path == "/api/qualitygates/project_status":
                    self._send(200, fake.gate)
                else:
                    self._send(404, {"errors": [{"msg": f"Unknown url : {url.path}"}]})

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01},
                                       daemon=True)

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.requests]


@pytest.fixture
def sonar() -> Iterator[FakeSonar]:
    fake = FakeSonar()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join(5)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "coursectl.yaml").write_text(
        "project: t\n"
        "services:\n  user: {path: user, port: 8001}\n"
        "registry: {url: 127.0.0.1:5000}\n"
        "sonarqube: {token: {env: SONAR_TOKEN}, poll_interval: 0.01, timeout: 5}\n"
        "environments:\n  local: {target: docker}\n"
    )
    (tmp_path / ".scannerwork").mkdir()
    (tmp_path / ".scannerwork/report-task.txt").write_text((SQ / "report-task/report-task.txt").read_text())
    monkeypatch.setenv("SONAR_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["-c", str(project / "coursectl.yaml"), "quality-gate", "--url", sonar.url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def gate_events(state: Path) -> list[Any]:
    with open_ledger(state) as ledger:
        return ledger.events(kinds=["gate"])


def test_pending_in_progress_success_then_gate_ok(project: Path, sonar: FakeSonar,
                                                  capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:
    sonar.tasks = [pending(), in_progress(), in_progress(), success()]
    code, out, err = run(project, sonar, capsys)
    assert code == 0, err
    assert "PENDING → IN_PROGRESS → SUCCESS" in out
    assert "new_blocker_violations" in out and "quality gate of" in out and "OK (passed)" in out
    assert sonar.paths().count("/api/ce/task") == 4
    path, query, auth = sonar.requests[-1]
    assert path == "/api/qualitygates/project_status" and query == {"analysisId": ["AYhSC3WDE6ILQDIMAPIp"]}
    assert sonar.requests[0][1] == {"id": ["57a16d4e-f48a-4277-8ad4-d5a577545b9c"]}  # from report-task.txt
    assert base64.b64decode(auth.split()[1]).decode() == f"{TOKEN}:"
    assert TOKEN not in out + err
    (event,) = gate_events(isolated_state)
    assert event.outcome == "passed" and event.details["status"] == "OK"


def test_gate_error_exits_6_listing_each_condition(project: Path, sonar: FakeSonar,
                                                   capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:
    sonar.gate = sample("webapi-examples/project_status-example.json")
    code, out, err = run(project, sonar, capsys)
    assert code == 6
    for metric, comparator, threshold, actual in [("new_coverage", "LT", "85", "82.50562381034781"),
                                                  ("new_blocker_violations", "GT", "0", "14"),
                                                  ("open_issues", "GT", "-", "17")]:
        line = next(line for line in out.splitlines() if metric in line)
        assert comparator in line and threshold in line and actual in line and "ERROR" in line
    assert "quality gate of" in err and "new_coverage 82.50562381034781 < 85" in err
    (event,) = gate_events(isolated_state)
    assert event.outcome == "blocked"
    assert [c["metric"] for c in event.details["failed_conditions"]][:2] == ["new_coverage", "new_blocker_violations"]

    code, out, _ = run(project, sonar, capsys, "-o", "json")
    doc = json.loads(out)
    assert code == 6 and doc["status"] == "ERROR" and len(doc["conditions"]) == 7
    assert doc["conditions"][0] == {"metric": "new_coverage", "status": "ERROR", "comparator": "LT",
                                    "threshold": "85", "actual": "82.50562381034781", "threshold_value": 85.0,
                                    "actual_value": 82.50562381034781}


def test_old_style_gate_error(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str]) -> None:
    sonar.gate = sample("webapi-examples-older/project_status-example.json")
    code, _, _ = run(project, sonar, capsys)
    assert code == 6


def test_failed_ce_task_exits_5(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str],
                                isolated_state: Path) -> None:
    sonar.tasks = [pending(), failed()]
    code, _, err = run(project, sonar, capsys)
    assert code == 5
    assert "FAILED: the error message" in err
    assert "/api/qualitygates/project_status" not in sonar.paths()
    (event,) = gate_events(isolated_state)
    assert event.outcome == "error"


def test_ce_task_timeout_exits_5(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str]) -> None:
    sonar.tasks = [pending()]
    code, _, err = run(project, sonar, capsys, "--timeout", "0.05", "--poll-interval", "0.01")
    assert code == 5
    assert "still PENDING after 0.05 s" in err


def test_auth_refused_exits_4(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str]) -> None:
    sonar.status_code = 401
    sonar.error_body = sample("sonar-scanner-jenkins/error.json")
    code, _, err = run(project, sonar, capsys)
    assert code == 4
    assert "credentials refused" in err and "SONAR_TOKEN" in err


def test_server_error_exits_5(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str]) -> None:
    sonar.status_code = 503
    code, _, _ = run(project, sonar, capsys)
    assert code == 5


def test_missing_token_exits_4(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SONAR_TOKEN")
    code, _, err = run(project, sonar, capsys)
    assert code == 4 and "env:SONAR_TOKEN" in err
    assert sonar.requests == []


def test_missing_report_task_exits_4(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(project, sonar, capsys, "--report-task", "nowhere/report-task.txt")
    assert code == 4 and "sonar-scanner" in err


@pytest.mark.parametrize("name", ["sq-8.9/report-task.txt", "from-ReportPublisherTest/report-task-pull-request.txt"])
def test_other_report_task_variants(project: Path, sonar: FakeSonar, capsys: pytest.CaptureFixture[str],
                                    name: str) -> None:
    code, _, err = run(project, sonar, capsys, "--report-task", str(SQ / "report-task" / name))
    assert code == 0, err
    assert sonar.requests[0][1]["id"] == [
        next(line.split("=", 1)[1] for line in (SQ / "report-task" / name).read_text().splitlines()
             if line.startswith("ceTaskId="))]


def test_project_key_without_report_task(project: Path, sonar: FakeSonar,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(project, sonar, capsys, "--project", "course-platform", "-o", "json")
    assert code == 0 and json.loads(out)["project_key"] == "course-platform"
    assert sonar.requests == [("/api/qualitygates/project_status", {"projectKey": ["course-platform"]},
                               sonar.requests[0][2])]


def test_no_quality_gate_counts_as_failure(project: Path, sonar: FakeSonar,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    sonar.gate = {"projectStatus": {"status": "NONE", "conditions": []}}
    code, _, _ = run(project, sonar, capsys)
    assert code == 6


def test_junit_lists_each_condition_and_an_analysis_error(project: Path, sonar: FakeSonar,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import xml.etree.ElementTree as ET

    sonar.gate = sample("webapi-examples/project_status-example.json")
    code, _, _ = run(project, sonar, capsys, "--junit", "reports/junit/qg.xml")
    assert code == 6
    root = ET.parse(project / "reports/junit/qg.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("7", "4")  # the sample has 4 ERROR conditions
    failures = {c.get("name"): c.find("failure").get("message") for c in root.iter("testcase")  # type: ignore[union-attr]
                if c.find("failure") is not None}
    assert failures["new_coverage"] == "new_coverage is 82.50562381034781 (fails when < 85)"
    sonar.tasks = [pending(), failed()]
    code, _, _ = run(project, sonar, capsys, "--junit", "reports/junit/qg.xml")
    assert code == 5
    (case,) = ET.parse(project / "reports/junit/qg.xml").getroot().iter("testcase")
    assert case.find("error") is not None and "FAILED" in case.find("error").get("message")  # type: ignore[union-attr]
