"""The scan policy, pure: merge scanners' findings, then judge each against threshold, unfixed and ignores."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from coursectl.domain import Finding, normalize_severity, severity_rank
from coursectl.scan.ignores import IgnoreEntry

BLOCKING = "blocking"
IGNORED = "ignored"
SUPPRESSED = "suppressed"
BELOW_THRESHOLD = "below-threshold"
UNFIXED = "unfixed"
DECISIONS = (BLOCKING, IGNORED, SUPPRESSED, BELOW_THRESHOLD, UNFIXED)


def _merge_two(a: Finding, b: Finding) -> Finding:
    """One finding from two reports of one issue: the higher severity, every scanner and alias, a fix if any."""
    scanners = tuple(dict.fromkeys((*a.scanners, *b.scanners)))
    aliases = tuple(n for n in dict.fromkeys((*a.aliases, b.id, *b.aliases)) if n != a.id)
    worse = a if severity_rank(a.severity) >= severity_rank(b.severity) else b
    return replace(
        a,
        severity=worse.severity,
        scanners=scanners,
        aliases=aliases,
        fixed_version=a.fixed_version or b.fixed_version,
        fixable=a.fixable or b.fixable,
        installed_version=a.installed_version or b.installed_version,
        title=a.title or b.title,
        url=a.url or b.url,
        status=a.status or b.status,
    )


def merge(findings: Iterable[Finding]) -> list[Finding]:
    """Findings with duplicates folded together.

    Two findings are the same issue when they are in the same service, of the same kind and package, and share
    an identifier (Trivy's CVE id is one of Snyk's aliases). Within one scanner, the target is also part of the
    identity (the same CVE in two lockfiles is two findings); across scanners it is not, because Trivy and Snyk
    name the same image differently.
    """
    merged: list[Finding] = []
    for f in findings:
        for i, m in enumerate(merged):
            if (
                m.service == f.service
                and m.kind == f.kind
                and m.package.lower() == f.package.lower()
                and m.names & f.names
                and (not set(m.scanners) & set(f.scanners) or m.target == f.target)
            ):
                merged[i] = _merge_two(m, f)
                break
        else:
            merged.append(f)
    return merged


@dataclass(frozen=True)
class Judged:
    """A finding and what the policy decided about it (and which ignore entry, valid or expired, matched)."""

    finding: Finding
    decision: str
    ignore: IgnoreEntry | None = None
    expired_ignore: IgnoreEntry | None = None
    reason: str = ""

    @property
    def blocking(self) -> bool:
        return self.decision == BLOCKING

    def to_dict(self) -> dict[str, Any]:
        out = self.finding.to_dict()
        out["decision"] = self.decision
        if self.reason:
            out["reason"] = self.reason
        if self.ignore is not None:
            out["ignore"] = self.ignore.to_dict()
        if self.expired_ignore is not None:
            out["expired_ignore"] = self.expired_ignore.to_dict()
        return out


def matches(entry: IgnoreEntry, finding: Finding) -> bool:
    """Whether an ignore entry names this finding (by any of its ids; package and service when given)."""
    if entry.id.upper() not in finding.names:
        return False
    if entry.package and entry.package.lower() != finding.package.lower():
        return False
    return not (entry.service and entry.service != finding.service)


@dataclass(frozen=True)
class Policy:
    """What blocks: findings at or above ``fail_on``, optionally not unfixed ones, minus valid ignore entries."""

    fail_on: str = "HIGH"
    ignore_unfixed: bool = False
    ignores: tuple[IgnoreEntry, ...] = ()

    def judge(self, finding: Finding, today: date) -> Judged:
        """The decision for one finding. Valid ignores win; an expired one is reported and ignores nothing."""
        valid = next((e for e in self.ignores if matches(e, finding) and not e.expired(today)), None)
        expired = next((e for e in self.ignores if matches(e, finding) and e.expired(today)), None)
        if valid is not None:
            return Judged(finding, IGNORED, ignore=valid, reason=valid.reason)
        if severity_rank(finding.severity) < severity_rank(normalize_severity(self.fail_on)):
            return Judged(finding, BELOW_THRESHOLD, expired_ignore=expired)
        if self.ignore_unfixed and finding.kind == "vuln" and not finding.fixable:
            return Judged(finding, UNFIXED, expired_ignore=expired, reason="no fixed version yet")
        reason = f"ignore entry expired on {expired.expires.isoformat()}" if expired else ""
        return Judged(finding, BLOCKING, expired_ignore=expired, reason=reason)

    def judge_all(self, findings: Sequence[Finding], today: date) -> list[Judged]:
        return [self.judge(f, today) for f in findings]

    def expired_entries(self, today: date) -> list[IgnoreEntry]:
        """Every expired entry, matched or not: they should be renewed or removed."""
        return [e for e in self.ignores if e.expired(today)]
