"""The scan and quality-gate use cases with fake ports: no subprocess, no server, no sleeping."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from coursectl.adapters.trivy import classify_failure
from coursectl.api.quality_gate import check_quality_gate, wait_for_task
from coursectl.api.scan import ScanRequest, run_scan
from coursectl.config import load_config
from coursectl.domain import CeTask, Finding, GateCondition, GateStatus, ParsedScan
from coursectl.errors import ExternalError, ExternalTimeout
from coursectl.parsers.sonarqube import ReportTask


class FakeScanner:
    def __init__(self, name: str, findings: list[Finding], *, installed: bool = True,
                 error: Exception | None = None):
        self.name = name
        self.display_name = name.title()
        self.install_hint = f"install {name}"
        self.kinds = ("image", "fs")
        self.findings = findings
        self.installed = installed
        self.error = error
        self.calls: list[tuple[str, str]] = []

    def available(self) -> bool:
        return self.installed

    def scan(self, kind: str, target: str, *, dockerfile: str | None = None) -> ParsedScan:
        self.calls.append((kind, target))
        if self.error:
            raise self.error
        return ParsedScan(scanner=self.name, findings=tuple(self.findings))


class FakeLedger:
    def __init__(self) -> None:
        self.recorded: list = []

    def record(self, event):  # type: ignore[no-untyped-def]
        self.recorded.append(event)
        return event

    def events(self, **_: object) -> list:
        return []


@pytest.fixture
def loaded(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "coursectl.yaml").write_text(
        "project: t\nservices:\n  user: {path: user, port: 8001}\n  course: {path: course, port: 8002}\n"
        "registry: {url: reg.local:5000, namespace: ns}\nenvironments:\n  local: {target: docker}\n")
    return load_config(tmp_path / "coursectl.yaml", None)


def vuln(id: str, severity: str, package: str = "p", scanner: str = "trivy") -> Finding:
    return Finding(id=id, package=package, severity=severity, scanners=(scanner,), fixable=True, target="t")


def test_every_service_and_scanner_is_run_and_recorded(loaded) -> None:  # type: ignore[no-untyped-def]
    trivy = FakeScanner("trivy", [vuln("CVE-1", "CRITICAL")])
    snyk = FakeScanner("snyk", [vuln("SNYK-1", "LOW", scanner="snyk")])
    ledger = FakeLedger()
    report = run_scan(loaded, ScanRequest(tag="t1"), scanners={"trivy": trivy, "snyk": snyk}, ledger=ledger,
                      today=date(2026, 1, 1))
    assert trivy.calls == [("image", "reg.local:5000/ns/user:t1"), ("image", "reg.local:5000/ns/course:t1")]
    assert report.outcome == "blocked" and len(report.blocking) == 2
    assert {(e.service, e.details["scanner"], e.outcome) for e in ledger.recorded} == {
        ("user", "trivy", "blocked"), ("user", "snyk", "passed"),
        ("course", "trivy", "blocked"), ("course", "snyk", "passed")}


def test_a_failing_scanner_is_an_error_run_not_a_pass(loaded) -> None:  # type: ignore[no-untyped-def]
    trivy = FakeScanner("trivy", [], error=ExternalError("Trivy printed output that is not JSON"))
    report = run_scan(loaded, ScanRequest(services=("user",), tag="t", scanners=("trivy",)),
                      scanners={"trivy": trivy, "snyk": FakeScanner("snyk", [])})
    assert report.outcome == "error" and report.errors[0].error is not None


def test_missing_scanner_skipped_when_asked(loaded) -> None:  # type: ignore[no-untyped-def]
    trivy = FakeScanner("trivy", [], installed=False)
    report = run_scan(loaded, ScanRequest(services=("user",), tag="t", scanners=("trivy",), skip_missing=True),
                      scanners={"trivy": trivy})
    assert report.outcome == "skipped" and trivy.calls == []


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("FATAL init error: --skip-db-update cannot be specified on the first run", "is missing or unusable"),
        ("FATAL DB error: failed to download vulnerability DB: dial tcp: i/o timeout", "cannot be downloaded"),
        ("FATAL unable to find the specified image", "Trivy failed with exit code 1"),
    ],
)
def test_trivy_failure_classification(stderr: str, expected: str) -> None:
    assert expected in classify_failure(1, stderr).message


class FakeGate:
    def __init__(self, states: list[str], gate: str = "OK"):
        self.states = states
        self.gate = gate
        self.polls = 0

    def task(self, task_id: str) -> CeTask:
        status = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        return CeTask(id=task_id, status=status, analysis_id="A1" if status == "SUCCESS" else None,
                      error_message="boom" if status == "FAILED" else "")

    def project_status(self, **_: str | None) -> GateStatus:
        return GateStatus(status=self.gate, conditions=(GateCondition("new_coverage", self.gate, "LT", "80", "70"),))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


TASK = ReportTask(project_key="k", server_url="http://x", ce_task_id="T1")


def test_wait_polls_until_success_with_the_interval() -> None:
    clock = Clock()
    task, states = wait_for_task(FakeGate(["PENDING", "PENDING", "IN_PROGRESS", "SUCCESS"]), "T1", timeout=60,
                                 poll_interval=5, clock=clock, sleep=clock.sleep)
    assert task.analysis_id == "A1" and states == ["PENDING", "IN_PROGRESS", "SUCCESS"]
    assert clock.slept == [5, 5, 5]


def test_wait_times_out_without_oversleeping() -> None:
    clock = Clock()
    with pytest.raises(ExternalTimeout, match="still PENDING after 12 s"):
        wait_for_task(FakeGate(["PENDING"]), "T1", timeout=12, poll_interval=5, clock=clock, sleep=clock.sleep)
    assert clock.slept == [5, 5, 2]


def test_failed_task_is_external_error() -> None:
    with pytest.raises(ExternalError, match="FAILED: boom"):
        wait_for_task(FakeGate(["IN_PROGRESS", "FAILED"]), "T1", timeout=10, poll_interval=0, sleep=lambda s: None)


@pytest.mark.parametrize(("gate", "none_is_failure", "outcome"),
                         [("OK", True, "passed"), ("WARN", True, "passed"), ("ERROR", True, "blocked"),
                          ("NONE", True, "blocked"), ("NONE", False, "passed")])
def test_gate_outcomes(gate: str, none_is_failure: bool, outcome: str) -> None:
    ledger = FakeLedger()
    result = check_quality_gate(FakeGate(["SUCCESS"], gate), report_task=TASK, none_is_failure=none_is_failure,
                                ledger=ledger, sleep=lambda s: None)
    assert result.outcome == outcome
    assert [(e.kind, e.outcome) for e in ledger.recorded] == [("gate", outcome)]
