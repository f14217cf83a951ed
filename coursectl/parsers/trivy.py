"""Trivy's JSON report (``--format json``, SchemaVersion 2, any release from v0.50 on) → Findings."""

from __future__ import annotations

import re
from typing import Any

from coursectl.domain import Finding, ParsedScan, normalize_severity
from coursectl.errors import ExternalError
from coursectl.parsers._common import as_dict, as_list, load_json

SCANNER = "trivy"
_CHECK_ID = re.compile(r"^(?:AVD-)?([A-Z]+)-?(\d+)$")


def check_aliases(check_id: str, avd_id: str = "") -> tuple[str, ...]:
    """Every spelling of a misconfiguration check: ``DS-0002`` (v0.69+), ``DS002`` and ``AVD-DS-0002`` (older)."""
    names: list[str] = [avd_id] if avd_id else []
    match = _CHECK_ID.match(check_id.upper()) or (_CHECK_ID.match(avd_id.upper()) if avd_id else None)
    if match:
        prefix, number = match.group(1), int(match.group(2))
        names += [f"{prefix}-{number:04d}", f"{prefix}{number:03d}", f"AVD-{prefix}-{number:04d}"]
    seen: list[str] = []
    for name in names:
        if name and name != check_id and name not in seen:
            seen.append(name)
    return tuple(seen)


def _vulnerability(v: dict[str, Any], target: str) -> Finding:
    fixed = str(v.get("FixedVersion") or "")
    status = str(v.get("Status") or ("fixed" if fixed else ""))
    return Finding(
        id=str(v.get("VulnerabilityID") or "UNKNOWN-ID"),
        package=str(v.get("PkgName") or v.get("PkgID") or ""),
        installed_version=str(v.get("InstalledVersion") or ""),
        fixed_version=fixed,
        severity=normalize_severity(v.get("Severity")),
        title=str(v.get("Title") or v.get("Description") or "")[:300],
        target=target,
        scanners=(SCANNER,),
        status=status,
        fixable=bool(fixed),
        url=str(v.get("PrimaryURL") or ""),
        kind="vuln",
    )


def _misconfiguration(m: dict[str, Any], target: str) -> Finding:
    check_id = str(m.get("ID") or m.get("AVDID") or "UNKNOWN-CHECK")
    cause = as_dict(m.get("CauseMetadata"))
    where = target
    if cause.get("StartLine"):
        where = f"{target}:{cause['StartLine']}"
    return Finding(
        id=check_id,
        package=str(cause.get("Resource") or ""),
        severity=normalize_severity(m.get("Severity")),
        title=str(m.get("Title") or m.get("Message") or ""),
        target=where,
        scanners=(SCANNER,),
        status=str(m.get("Status") or ""),
        fixable=True,
        fixed_version=str(m.get("Resolution") or ""),
        url=str(m.get("PrimaryURL") or ""),
        kind="misconfig",
        aliases=check_aliases(check_id, str(m.get("AVDID") or "")),
    )


def _secret(s: dict[str, Any], target: str) -> Finding:
    line = s.get("StartLine")
    return Finding(
        id=str(s.get("RuleID") or "secret"),
        package=str(s.get("Category") or ""),
        severity=normalize_severity(s.get("Severity")),
        title=str(s.get("Title") or ""),
        target=f"{target}:{line}" if line else target,
        scanners=(SCANNER,),
        status="found",
        fixable=True,
        kind="secret",
    )


def _license(lic: dict[str, Any], target: str) -> Finding:
    return Finding(
        id=str(lic.get("Name") or "license"),
        package=str(lic.get("PkgName") or ""),
        severity=normalize_severity(lic.get("Severity")),
        title=f"license {lic.get('Name') or ''} ({lic.get('Category') or 'unknown category'})",
        target=target,
        scanners=(SCANNER,),
        status=str(lic.get("Category") or ""),
        fixable=True,
        url=str(lic.get("Link") or ""),
        kind="license",
    )


def parse_report(report: Any) -> ParsedScan:
    """Findings of a decoded Trivy report: vulnerabilities, failed misconfigurations, secrets and licenses."""
    if not isinstance(report, dict):
        raise ExternalError(f"Trivy printed JSON that is not a report (a {type(report).__name__}, not an object)")
    findings: list[Finding] = []
    for result in as_list(report.get("Results")):
        result = as_dict(result)
        target = str(result.get("Target") or report.get("ArtifactName") or "")
        for v in as_list(result.get("Vulnerabilities")):
            findings.append(_vulnerability(as_dict(v), target))
        for m in as_list(result.get("Misconfigurations")):
            m = as_dict(m)
            if str(m.get("Status") or "FAIL").upper() == "FAIL":
                findings.append(_misconfiguration(m, target))
        for s in as_list(result.get("Secrets")):
            findings.append(_secret(as_dict(s), target))
        for lic in as_list(result.get("Licenses")):
            findings.append(_license(as_dict(lic), target))
    metadata = as_dict(report.get("Metadata"))
    os_info = as_dict(metadata.get("OS"))
    meta: dict[str, Any] = {
        "trivy_version": as_dict(report.get("Trivy")).get("Version"),
        "artifact_type": report.get("ArtifactType"),
        "os": f"{os_info.get('Family', '')} {os_info.get('Name', '')}".strip() or None,
        "eosl": bool(os_info.get("EOSL", False)),
    }
    return ParsedScan(
        scanner=SCANNER,
        findings=tuple(findings),
        artifact=str(report.get("ArtifactName") or ""),
        meta={k: v for k, v in meta.items() if v is not None},
    )


def parse(text: str) -> ParsedScan:
    """Findings of Trivy's JSON stdout; output that is not a JSON report is an ExternalError naming Trivy."""
    return parse_report(load_json(text, "Trivy"))
