"""SonarQube's scanner metadata (report-task.txt) and Web API answers (CE task, quality-gate status) → values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coursectl.domain import CE_DONE, CeTask, GateCondition, GateStatus
from coursectl.parsers._common import as_dict, as_list

CE_STATES = ("PENDING", "IN_PROGRESS", *CE_DONE)
GATE_STATES = ("OK", "WARN", "ERROR", "NONE")


@dataclass(frozen=True)
class ReportTask:
    """The ``report-task.txt`` the scanner writes after uploading an analysis."""

    project_key: str
    server_url: str
    ce_task_id: str
    ce_task_url: str = ""
    dashboard_url: str = ""
    server_version: str = ""
    organization: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "server_url": self.server_url,
            "server_version": self.server_version,
            "ce_task_id": self.ce_task_id,
            "ce_task_url": self.ce_task_url,
            "dashboard_url": self.dashboard_url,
            "organization": self.organization,
        }


def parse_report_task(text: str) -> dict[str, str]:
    """The ``key=value`` lines of report-task.txt (Java properties; comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if sep < 0:
            continue
        values[line[:sep].strip()] = line[sep + 1 :].strip().replace("\\:", ":").replace("\\=", "=")
    return values


def report_task_from(values: dict[str, str]) -> ReportTask:
    """A ReportTask from parsed properties; ValueError naming the missing keys."""
    missing = [k for k in ("projectKey", "serverUrl", "ceTaskId") if not values.get(k)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    known = {"projectKey", "serverUrl", "ceTaskId", "ceTaskUrl", "dashboardUrl", "serverVersion", "organization"}
    return ReportTask(
        project_key=values["projectKey"],
        server_url=values["serverUrl"].rstrip("/"),
        ce_task_id=values["ceTaskId"],
        ce_task_url=values.get("ceTaskUrl", ""),
        dashboard_url=values.get("dashboardUrl", ""),
        server_version=values.get("serverVersion", ""),
        organization=values.get("organization", ""),
        extra={k: v for k, v in values.items() if k not in known},
    )


def parse_task(data: Any) -> CeTask:
    """A CeTask from ``{"task": {...}}`` (or the task object itself); unknown states are kept upper-cased."""
    task = as_dict(as_dict(data).get("task")) or as_dict(data)
    status = str(task.get("status") or "UNKNOWN").upper()
    return CeTask(
        id=str(task.get("id") or ""),
        status=status,
        analysis_id=task.get("analysisId") or None,
        component_key=str(task.get("componentKey") or ""),
        error_message=str(task.get("errorMessage") or ""),
        error_type=str(task.get("errorType") or ""),
        warnings=tuple(str(w) for w in as_list(task.get("warnings"))),
    )


def parse_project_status(data: Any) -> GateStatus:
    """A GateStatus from either the new (``period``) or old (``periods[]`` + ``periodIndex``) answer."""
    ps = as_dict(as_dict(data).get("projectStatus"))
    status = str(ps.get("status") or "NONE").upper()
    if status not in GATE_STATES:
        status = "NONE"
    conditions = []
    for c in as_list(ps.get("conditions")):
        c = as_dict(c)
        cstatus = str(c.get("status") or "NONE").upper()
        conditions.append(
            GateCondition(
                metric=str(c.get("metricKey") or "?"),
                status=cstatus if cstatus in GATE_STATES else "NONE",
                comparator=str(c.get("comparator") or ""),
                threshold=None if c.get("errorThreshold") is None else str(c["errorThreshold"]),
                actual=None if c.get("actualValue") is None else str(c["actualValue"]),
                period_index=c.get("periodIndex") if isinstance(c.get("periodIndex"), int) else None,
            )
        )
    period = as_dict(ps.get("period"))
    if not period:
        periods = [as_dict(p) for p in as_list(ps.get("periods"))]
        period = periods[0] if periods else {}
    return GateStatus(
        status=status,
        conditions=tuple(conditions),
        ignored_conditions=bool(ps.get("ignoredConditions", False)),
        cayc_status=str(ps.get("caycStatus") or ""),
        period=period,
    )


def error_messages(data: Any) -> list[str]:
    """The messages of a Web API error body ``{"errors": [{"msg": ...}]}``."""
    errors = [as_dict(e) for e in as_list(as_dict(data).get("errors"))]
    return [str(e["msg"]) for e in errors if e.get("msg")]


def measure_value(body: Any, metric: str) -> float | None:
    """The value of ``metric`` in an ``api/measures/component`` answer, None when absent."""
    for m in as_list(as_dict(as_dict(body).get("component")).get("measures")):
        m = as_dict(m)
        if m.get("metric") == metric and m.get("value") is not None:
            return float(m["value"])
    return None


def condition_value(body: Any, metrics: tuple[str, ...]) -> tuple[str, float] | None:
    """The first of ``metrics`` among the conditions of an ``api/qualitygates/project_status`` answer."""
    conditions = [as_dict(c) for c in as_list(as_dict(as_dict(body).get("projectStatus")).get("conditions"))]
    for wanted in metrics:
        for c in conditions:
            if c.get("metricKey") == wanted and c.get("actualValue") is not None:
                return wanted, float(c["actualValue"])
    return None
