"""A scan's outcome as data: each scanner run, every finding judged by the policy, and the overall verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coursectl.domain import SEVERITIES, utcnow
from coursectl.errors import CoursectlError
from coursectl.scan.ignores import IgnoreEntry
from coursectl.scan.policy import BLOCKING, Judged


@dataclass(frozen=True)
class ScannerRun:
    """One scanner on one service's target: ran (ok), skipped (not installed / not applicable) or error."""

    service: str
    scanner: str
    kind: str
    target: str
    status: str
    version: str | None = None
    message: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    error: CoursectlError | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "service": self.service,
            "scanner": self.scanner,
            "kind": self.kind,
            "target": self.target,
            "status": self.status,
            "version": self.version,
            "message": self.message,
            "meta": dict(self.meta),
        }
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out


@dataclass(frozen=True)
class ScanReport:
    """The outcome of a scan: every run, every finding with its decision, and the policy applied."""

    kind: str
    fail_on: str
    ignore_unfixed: bool
    ignore_file: str
    runs: tuple[ScannerRun, ...]
    judged: tuple[Judged, ...]
    expired_ignores: tuple[IgnoreEntry, ...] = ()
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime = field(default_factory=utcnow)

    @property
    def blocking(self) -> list[Judged]:
        return [j for j in self.judged if j.blocking]

    @property
    def errors(self) -> list[ScannerRun]:
        return [r for r in self.runs if r.status == "error"]

    @property
    def skipped(self) -> list[ScannerRun]:
        return [r for r in self.runs if r.status == "skipped"]

    @property
    def outcome(self) -> str:
        """blocked (a blocking finding), error (a scanner failed), skipped (nothing ran) or passed."""
        if self.blocking:
            return "blocked"
        if self.errors:
            return "error"
        if self.runs and all(r.status == "skipped" for r in self.runs):
            return "skipped"
        return "passed"

    def findings_of(self, service: str, scanner: str | None = None) -> list[Judged]:
        return [
            j
            for j in self.judged
            if j.finding.service == service and (scanner is None or scanner in j.finding.scanners)
        ]

    def run_outcome(self, run: ScannerRun) -> str:
        """The ledger outcome of one run: skipped, error, blocked or passed."""
        if run.status in ("skipped", "error"):
            return run.status
        return "blocked" if any(j.blocking for j in self.findings_of(run.service, run.scanner)) else "passed"

    def counts(self, judged: Sequence[Judged] | None = None) -> dict[str, int]:
        """Findings by severity, CRITICAL first (every severity present, zero included)."""
        counter = Counter(j.finding.severity for j in (self.judged if judged is None else judged))
        return {s: counter.get(s, 0) for s in reversed(SEVERITIES)}

    def to_dict(self) -> dict[str, Any]:
        decisions = Counter(j.decision for j in self.judged)
        return {
            "outcome": self.outcome,
            "kind": self.kind,
            "policy": {
                "fail_on": self.fail_on,
                "ignore_unfixed": self.ignore_unfixed,
                "ignore_file": self.ignore_file,
            },
            "summary": {
                "findings": len(self.judged),
                "blocking": decisions.get(BLOCKING, 0),
                "by_severity": self.counts(),
                "by_decision": dict(sorted(decisions.items())),
            },
            "runs": [r.to_dict() for r in self.runs],
            "findings": [j.to_dict() for j in self.judged],
            "expired_ignores": [e.to_dict() for e in self.expired_ignores],
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
