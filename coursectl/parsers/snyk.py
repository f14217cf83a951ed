"""Snyk's ``--json`` output (``snyk test``, ``--all-projects`` arrays, ``snyk container test``) → Findings."""

from __future__ import annotations

from typing import Any

from coursectl.domain import Finding, ParsedScan, Suppressed, normalize_severity
from coursectl.errors import ExternalError
from coursectl.parsers._common import as_dict, as_list, load_json

SCANNER = "snyk"


def _aliases(v: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for key, values in as_dict(v.get("identifiers")).items():
        if key.upper() == "CWE":
            continue
        for value in as_list(values):
            if isinstance(value, str) and value and value not in out and value != v.get("id"):
                out.append(value)
    return tuple(out)


def _fixed_version(v: dict[str, Any]) -> str:
    fixed_in = [str(x) for x in as_list(v.get("fixedIn")) if x]
    if fixed_in:
        return ", ".join(fixed_in)
    return str(v.get("nearestFixedInVersion") or "")


def _finding(v: dict[str, Any], target: str) -> Finding:
    fixed = _fixed_version(v)
    fixable = bool(fixed) or bool(v.get("isUpgradable")) or bool(v.get("isPatchable"))
    vuln_id = str(v.get("id") or "UNKNOWN-ID")
    return Finding(
        id=vuln_id,
        package=str(v.get("packageName") or v.get("moduleName") or v.get("name") or ""),
        installed_version=str(v.get("version") or ""),
        fixed_version=fixed,
        severity=normalize_severity(v.get("severity")),
        title=str(v.get("title") or ""),
        target=target,
        scanners=(SCANNER,),
        status="fixed" if fixable else "affected",
        fixable=fixable,
        url=f"https://security.snyk.io/vuln/{vuln_id}" if vuln_id.startswith("SNYK-") else "",
        kind="license" if v.get("type") == "license" else "vuln",
        aliases=_aliases(v),
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Snyk lists one entry per dependency path; keep one finding per (id, package, version, target)."""
    seen: dict[tuple[str, str, str, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.id, f.package, f.installed_version, f.target), f)
    return list(seen.values())


def _target(project: dict[str, Any]) -> str:
    return str(
        project.get("displayTargetFile")
        or project.get("targetFile")
        or project.get("projectName")
        or project.get("path")
        or ""
    )


def _project(
    project: dict[str, Any], findings: list[Finding], suppressed: list[Suppressed], errors: list[str]
) -> None:
    if project.get("error") and not project.get("vulnerabilities"):
        where = project.get("path") or project.get("projectName") or "project"
        errors.append(f"{where}: {project['error']}")
        return
    target = _target(project)
    findings.extend(_finding(as_dict(v), target) for v in as_list(project.get("vulnerabilities")))
    for v in as_list(as_dict(project.get("filtered")).get("ignore")):
        v = as_dict(v)
        ignored = [as_dict(x) for x in as_list(as_dict(v.get("filtered")).get("ignored"))]
        first = ignored[0] if ignored else {}
        suppressed.append(
            Suppressed(
                finding=_finding(v, target),
                reason=f"Snyk policy: {first.get('reason') or 'ignored in .snyk'}",
                expires=first.get("expires"),
            )
        )
    for app in as_list(project.get("applications")):
        _project(as_dict(app), findings, suppressed, errors)


def parse_report(report: Any) -> ParsedScan:
    """Findings of decoded Snyk JSON: one project object, an array of them, or an error document."""
    projects = report if isinstance(report, list) else [report]
    if not projects or not all(isinstance(p, dict) for p in projects):
        raise ExternalError("Snyk printed JSON that is not a test result")
    findings: list[Finding] = []
    suppressed: list[Suppressed] = []
    errors: list[str] = []
    for project in projects:
        _project(project, findings, suppressed, errors)
    unique = _dedupe(findings)
    first = projects[0]
    meta: dict[str, Any] = {
        "projects": len(projects),
        "paths": len(findings),
        "package_manager": first.get("packageManager"),
        "base_image": as_dict(first.get("docker")).get("baseImage"),
    }
    return ParsedScan(
        scanner=SCANNER,
        findings=tuple(unique),
        suppressed=tuple({(s.finding.id, s.finding.package, s.finding.target): s for s in suppressed}.values()),
        errors=tuple(errors),
        artifact=str(first.get("projectName") or first.get("path") or ""),
        meta={k: v for k, v in meta.items() if v is not None},
    )


def parse(text: str) -> ParsedScan:
    """Findings of Snyk's JSON stdout; output that is not JSON is an ExternalError naming Snyk."""
    return parse_report(load_json(text, "Snyk"))
