"""The quality-gate use case: read report-task.txt, await SonarQube's CE task, fetch and judge the gate."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.domain import CeTask, GateStatus, LedgerEvent, current_actor
from coursectl.errors import (
    ConfigError,
    ConfigProblem,
    CoursectlError,
    ExternalError,
    ExternalTimeout,
    PreconditionError,
    UsageError,
)
from coursectl.parsers.sonarqube import ReportTask, parse_report_task, report_task_from

if TYPE_CHECKING:
    from coursectl.ports import QualityGate


def read_report_task(path: Path) -> ReportTask:
    """The scanner's report-task.txt; PreconditionError when absent, ConfigError when keys are missing."""
    from coursectl.textfile import MIB, UnreadableText, read_text

    if not os.path.lexists(path):
        raise PreconditionError(
            f"{path} not found: no SonarQube analysis was uploaded from here",
            hint="run sonar-scanner first (it writes .scannerwork/report-task.txt), or pass --report-task PATH",
        )
    try:
        text = read_text(path, limit=MIB)
    except UnreadableText as exc:
        raise PreconditionError(f"{path} {exc.message}" + (f" ({exc.where})" if exc.where else "")) from None
    try:
        return report_task_from(parse_report_task(text))
    except ValueError as exc:
        raise ConfigError([ConfigProblem(str(path), "", str(exc))]) from exc


@dataclass(frozen=True)
class GateResult:
    """The verdict: passed (OK, or WARN), blocked (ERROR, or NONE when that counts as a failure)."""

    project_key: str
    gate: GateStatus
    outcome: str
    task: CeTask | None = None
    dashboard_url: str = ""
    polls: int = 0
    states: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "outcome": self.outcome,
            "status": self.gate.status,
            "conditions": [c.to_dict() for c in self.gate.conditions],
            "failed_conditions": [c.to_dict() for c in self.gate.failed_conditions],
            "task": self.task.to_dict() if self.task else None,
            "ce_states": list(self.states),
            "dashboard_url": self.dashboard_url,
        }


def wait_for_task(
    gate: QualityGate,
    task_id: str,
    *,
    timeout: float,
    poll_interval: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[CeTask, list[str]]:
    """Poll the CE task until it is done; ExternalTimeout after ``timeout``, ExternalError when FAILED/CANCELED."""
    deadline = clock() + timeout
    states: list[str] = []
    while True:
        task = gate.task(task_id)
        if not states or states[-1] != task.status:
            states.append(task.status)
        if task.status == "SUCCESS":
            return task, states
        if task.status in ("FAILED", "CANCELED"):
            why = task.error_message or "no error message"
            raise ExternalError(
                f"SonarQube could not process analysis task {task_id}: {task.status}: {why}",
                hint="open the project's Background Tasks page in SonarQube for the details",
                details={"task": task.to_dict()},
            )
        if task.status not in ("PENDING", "IN_PROGRESS"):
            raise ExternalError(f"SonarQube analysis task {task_id} is in an unknown state {task.status!r}")
        remaining = deadline - clock()
        if remaining <= 0:
            raise ExternalTimeout(
                f"SonarQube analysis task {task_id} still {task.status} after {timeout:g} s",
                hint="raise --timeout (sonarqube.timeout), or check that a compute engine worker is running",
                details={"task": task.to_dict()},
            )
        sleep(min(poll_interval, remaining))


def check_quality_gate(
    gate: QualityGate,
    *,
    report_task: ReportTask | None = None,
    project_key: str | None = None,
    timeout: float = 300.0,
    poll_interval: float = 5.0,
    none_is_failure: bool = True,
    ledger: Any | None = None,
    environment: str | None = None,
    git_commit: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> GateResult:
    """Await the analysis of ``report_task`` (or take the project's latest) and judge its quality gate.

    Every verdict is a ledger event of kind ``gate`` (passed, blocked or error). Raises ExternalError or
    ExternalTimeout for a failed or slow CE task; a blocked gate is data (``outcome == "blocked"``).
    """
    key = project_key or (report_task.project_key if report_task else None)
    if not key:
        raise UsageError("no project: pass --project KEY or --report-task PATH")
    task: CeTask | None = None
    states: list[str] = []
    try:
        if report_task is not None:
            task, states = wait_for_task(
                gate, report_task.ce_task_id, timeout=timeout, poll_interval=poll_interval, sleep=sleep
            )
            status = (
                gate.project_status(analysis_id=task.analysis_id)
                if task.analysis_id
                else gate.project_status(project_key=key)
            )
        else:
            status = gate.project_status(project_key=key)
    except CoursectlError as exc:
        _record(ledger, key, "error", {"error": exc.to_dict(), "ce_states": states}, environment, git_commit)
        raise
    if status.status in ("OK", "WARN"):
        outcome = "passed"
    elif status.status == "NONE" and not none_is_failure:
        outcome = "passed"
    else:
        outcome = "blocked"
    result = GateResult(
        project_key=key,
        gate=status,
        outcome=outcome,
        task=task,
        dashboard_url=report_task.dashboard_url if report_task else "",
        states=tuple(states),
    )
    details = {
        "status": status.status,
        "failed_conditions": [c.to_dict() for c in status.failed_conditions],
        "analysis_id": task.analysis_id if task else None,
        "ce_task_id": task.id if task else None,
        "dashboard_url": result.dashboard_url,
    }
    _record(ledger, key, outcome, details, environment, git_commit)
    return result


def _record(
    ledger: Any | None,
    key: str,
    outcome: str,
    details: dict[str, Any],
    environment: str | None,
    git_commit: str | None,
) -> None:
    if ledger is None:
        return
    ledger.record(
        LedgerEvent(
            kind="gate",
            actor=current_actor(),
            environment=environment,
            service=None,
            version=None,
            git_commit=git_commit,
            outcome=outcome,
            details={"gate": "sonarqube", "project_key": key, **details},
        )
    )
