"""Pure report builders for a ScanReport: SARIF 2.1.0 (a JSON document) and JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from coursectl import __version__

if TYPE_CHECKING:
    from coursectl.scan.policy import Judged
    from coursectl.scan.report import ScanReport

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note"}
_SCORE = {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0", "UNKNOWN": "0.0"}


def _uri(target: str) -> str:
    """A URI reference for a target: ``:`` is escaped so that an image ref does not read as a scheme."""
    return quote(target, safe="/._-~@")


def _message(j: Judged) -> str:
    f = j.finding
    parts = [f"{f.id} ({f.severity})"]
    if f.package:
        parts.append(f"in {f.package} {f.installed_version}".rstrip())
    if f.fixed_version and f.kind == "vuln":
        parts.append(f"fixed in {f.fixed_version}")
    text = " ".join(parts)
    if f.title:
        text += f": {f.title}"
    return f"{text} [service {f.service}, {', '.join(f.scanners)}; {j.decision}]"


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """The report as one SARIF 2.1.0 run of the tool ``coursectl`` (Jenkins Warnings NG, code scanning).

    Ignored and suppressed findings are kept with a ``suppressions`` entry carrying the reason; skipped and
    failed scanner runs are tool execution notifications, so a skip is never silent.
    """
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for j in report.judged:
        f = j.finding
        if f.id not in index:
            index[f.id] = len(rules)
            rule: dict[str, Any] = {
                "id": f.id,
                "name": {
                    "vuln": "PackageVulnerability",
                    "misconfig": "Misconfiguration",
                    "secret": "Secret",
                    "license": "License",
                }.get(f.kind, "Finding"),
                "shortDescription": {"text": f.title or f.id},
                "properties": {
                    "security-severity": _SCORE[f.severity],
                    "tags": ["security", f.kind, f.severity],
                },
            }
            if f.url:
                rule["helpUri"] = f.url
            rules.append(rule)
        result: dict[str, Any] = {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": _LEVEL[f.severity] if j.blocking else "note",
            "kind": "fail" if j.blocking else "review",
            "message": {"text": _message(j)},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.target or f.service or "")}}}],
            "properties": {
                "service": f.service,
                "package": f.package,
                "installedVersion": f.installed_version,
                "fixedVersion": f.fixed_version,
                "severity": f.severity,
                "scanners": list(f.scanners),
                "decision": j.decision,
                "aliases": list(f.aliases),
            },
        }
        if j.decision in ("ignored", "suppressed"):
            suppression: dict[str, Any] = {"kind": "external", "status": "accepted", "justification": j.reason}
            if j.ignore is not None:
                suppression["properties"] = {"expires": j.ignore.expires.isoformat()}
            result["suppressions"] = [suppression]
        results.append(result)
    notifications = [
        {
            "level": "error" if r.status == "error" else "warning",
            "message": {"text": f"{r.scanner} on {r.service} ({r.target}): {r.status}: {r.message}"},
        }
        for r in report.runs
        if r.status != "ok"
    ]
    invocation: dict[str, Any] = {
        "executionSuccessful": not report.errors,
        "startTimeUtc": report.started_at.isoformat().replace("+00:00", "Z"),
        "endTimeUtc": report.finished_at.isoformat().replace("+00:00", "Z"),
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "coursectl",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "invocations": [invocation],
                "results": results,
                "properties": {
                    "outcome": report.outcome,
                    "failOn": report.fail_on,
                    "ignoreUnfixed": report.ignore_unfixed,
                    "scanners": sorted({r.scanner for r in report.runs}),
                },
            }
        ],
    }


def to_junit(report: ScanReport) -> str:
    """The report as JUnit XML: one test case per service × scanner, failing with its blocking findings."""
    suite = ET.Element("testsuite", name=f"coursectl scan ({report.kind})")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for run in report.runs:
        counts["tests"] += 1
        case = ET.SubElement(suite, "testcase", classname=f"scan.{run.service}", name=run.scanner)
        case.set("file", run.target)
        if run.status == "skipped":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=run.message or "skipped")
            continue
        if run.status == "error":
            counts["errors"] += 1
            err = ET.SubElement(case, "error", message=run.message or "scanner failed", type="ScannerError")
            err.text = run.message
            continue
        mine = report.findings_of(run.service, run.scanner)
        blocking = [j for j in mine if j.blocking]
        if blocking:
            counts["failures"] += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(blocking)} finding(s) at or above {report.fail_on}",
                type="ScanPolicy",
            )
            failure.text = "\n".join(_message(j) for j in blocking)
        others = [j for j in mine if not j.blocking]
        if others:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(_message(j) + (f" — {j.reason}" if j.reason else "") for j in others)
    for key, value in counts.items():
        suite.set(key, str(value))
    root = ET.Element("testsuites", {"name": "coursectl scan", **{k: str(v) for k, v in counts.items()}})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
