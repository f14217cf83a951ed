"""The scan use case: run the scanners on each service's target, merge, judge, record, return a ScanReport."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.domain import Finding, LedgerEvent, current_actor, utcnow
from coursectl.errors import CoursectlError, ToolMissing, UsageError
from coursectl.scan.ignores import load_ignores
from coursectl.scan.policy import SUPPRESSED, Judged, Policy, merge
from coursectl.scan.report import ScannerRun, ScanReport

if TYPE_CHECKING:
    from coursectl.config import LoadedConfig
    from coursectl.ports import Scanner

log = logging.getLogger(__name__)

SCANNER_NAMES = ("trivy", "snyk")


@dataclass(frozen=True)
class ScanRequest:
    """What to scan and with which policy; ``None`` means "as the configuration says"."""

    services: tuple[str, ...] = ()
    kind: str = "image"
    scanners: tuple[str, ...] | None = None
    fail_on: str | None = None
    ignore_unfixed: bool | None = None
    ignore_file: Path | None = None
    skip_missing: bool | None = None
    tag: str | None = None
    environment: str | None = None
    use_sbom: bool = True
    sboms: Mapping[str, str] = field(default_factory=dict)
    """service → SBOM file of the image to scan; without one, the SBOM recorded for the tag (when any)."""


def current_tag(service: str, *, explicit: str | None, ledger: Any | None, root: Path, commit: str | None) -> str:
    """The tag of a service's current image: ``--tag``, else the last build/push recorded, else the short id of
    ``commit`` (HEAD of the checkout at ``root``; None when it is not a git checkout)."""
    if explicit:
        return explicit
    if ledger is not None:
        for event in ledger.events(service=service, kinds=["build", "push"], limit=5):
            tag = (event.details or {}).get("tag") or event.version
            if tag:
                return str(tag)
    if commit:
        return commit[:12]
    from coursectl.errors import PreconditionError

    raise PreconditionError(
        f"no image tag known for {service}: nothing built or pushed yet and {root} is not a git checkout",
        hint="pass --tag TAG",
    )


def _targets(
    loaded: LoadedConfig, services: Sequence[str], request: ScanRequest, ledger: Any | None, commit: str | None
) -> list[tuple[str, str, str | None, str | None]]:
    """(service, target, version, dockerfile) for each service."""
    config = loaded.config
    out: list[tuple[str, str, str | None, str | None]] = []
    for name in services:
        svc = config.services[name]
        folder = (loaded.root / svc.path).resolve()
        dockerfile = (loaded.root / svc.dockerfile) if svc.dockerfile else folder / "Dockerfile"
        dockerfile_arg = str(dockerfile) if dockerfile.is_file() else None
        if request.kind == "image":
            tag = current_tag(name, explicit=request.tag, ledger=ledger, root=loaded.root, commit=commit)
            ref = f"{config.registry.url}/{config.registry.namespace}/{name}:{tag}"
            out.append((name, ref, tag, dockerfile_arg))
        else:
            out.append((name, str(folder), request.tag, dockerfile_arg))
    return out


def _check_installed(chosen: Sequence[Scanner], skip_missing: bool) -> list[Scanner]:
    missing = [s for s in chosen if not s.available()]
    if missing and not skip_missing:
        names = " and ".join(s.display_name for s in missing)
        verb = "is" if len(missing) == 1 else "are"
        raise ToolMissing(
            f"{names} {verb} not installed (not found on PATH)",
            hint="; ".join(s.install_hint for s in missing),
            details={"missing": [s.name for s in missing]},
        )
    return missing


def run_scan(
    loaded: LoadedConfig,
    request: ScanRequest,
    *,
    scanners: Mapping[str, Scanner],
    commit: str | None = None,
    ledger: Any | None = None,
    today: date | None = None,
) -> ScanReport:
    """Scan each requested service with each chosen scanner and judge the findings with the policy.

    ``scanners`` by name (``wiring.scanners``); ``commit``: HEAD of the checkout (recorded; the tag of images
    when nothing was built or pushed), None when it is not a git checkout.

    Raises ToolMissing (exit 4) when a chosen scanner is not installed and skipping was not asked, UsageError for
    unknown services, ConfigError for a bad ignore file. A scanner that fails is recorded in the report (status
    error) and the ledger; enforcing the result (exit 5 or 6) is the caller's step.
    """
    config = loaded.config
    scan_cfg = config.scan
    started = utcnow()
    today = today or started.date()
    unknown = [s for s in request.services if s not in config.services]
    if unknown:
        raise UsageError(
            f"unknown service {', '.join(map(repr, unknown))}",
            hint=f"services: {', '.join(sorted(config.services))}",
        )
    services = list(request.services) or list(config.services)
    names = list(request.scanners or scan_cfg.scanners)
    bad = [n for n in names if n not in SCANNER_NAMES]
    if bad:
        raise UsageError(f"unknown scanner {', '.join(bad)}", hint=f"scanners: {', '.join(SCANNER_NAMES)}")
    available = scanners
    chosen = [available[n] for n in dict.fromkeys(names)]
    skip_missing = scan_cfg.skip_missing if request.skip_missing is None else request.skip_missing
    missing = {s.name for s in _check_installed(chosen, skip_missing)}

    ignore_path = request.ignore_file or (loaded.root / scan_cfg.ignore_file)
    policy = Policy(
        fail_on=request.fail_on or scan_cfg.fail_on,
        ignore_unfixed=scan_cfg.ignore_unfixed if request.ignore_unfixed is None else request.ignore_unfixed,
        ignores=tuple(load_ignores(ignore_path)),
    )
    targets = _targets(loaded, services, request, ledger, commit)

    runs: list[ScannerRun] = []
    findings: list[Finding] = []
    suppressed: list[Judged] = []
    for service, target, version, dockerfile in targets:
        for scanner in chosen:
            base: dict[str, Any] = {
                "service": service,
                "scanner": scanner.name,
                "kind": request.kind,
                "target": target,
                "version": version,
            }
            if scanner.name in missing:
                runs.append(
                    ScannerRun(
                        **base,
                        status="skipped",
                        message=f"{scanner.display_name} is not installed (skipped as asked)",
                    )
                )
                continue
            if request.kind not in scanner.kinds:
                runs.append(
                    ScannerRun(
                        **base,
                        status="skipped",
                        message=f"{scanner.display_name} does not do --kind {request.kind} scans",
                    )
                )
                continue
            sbom = _sbom_for(request, service, version, ledger) if "sbom" in scanner.kinds else None
            if sbom:
                base["meta"] = {"via": "sbom", "sbom": sbom}
            try:
                if sbom:  # the image's SBOM holds its packages: no second pull of the image
                    parsed = scanner.scan("sbom", sbom, dockerfile=dockerfile)
                else:
                    parsed = scanner.scan(request.kind, target, dockerfile=dockerfile)
            except CoursectlError as exc:
                log.warning("%s on %s failed: %s", scanner.display_name, target, exc.message)
                runs.append(ScannerRun(**base, status="error", message=exc.message, error=exc))
                continue
            message = "; ".join(parsed.errors)
            if parsed.meta.get("eosl"):
                message = "; ".join(filter(None, [message, f"end-of-life OS: {parsed.meta.get('os', '?')}"]))
            meta = {**base.pop("meta", {}), **parsed.meta, "findings": len(parsed.findings)}
            runs.append(ScannerRun(**base, status="ok", message=message, meta=meta))
            findings.extend(_with_service(f, service) for f in parsed.findings)
            suppressed.extend(
                Judged(_with_service(s.finding, service), SUPPRESSED, reason=s.reason) for s in parsed.suppressed
            )

    judged = policy.judge_all(merge(findings), today) + suppressed
    report = ScanReport(
        kind=request.kind,
        fail_on=policy.fail_on,
        ignore_unfixed=policy.ignore_unfixed,
        ignore_file=str(ignore_path),
        runs=tuple(runs),
        judged=tuple(sorted(judged, key=_order)),
        expired_ignores=tuple(policy.expired_entries(today)),
        started_at=started,
        finished_at=utcnow(),
    )
    if ledger is not None:
        record_scan(ledger, report, environment=request.environment, commit=commit)
    return report


def _sbom_for(request: ScanRequest, service: str, version: str | None, ledger: Any | None) -> str | None:
    """The SBOM file Trivy reads instead of the image: given in the request, else the one recorded for the tag
    (verified against its recorded digest); None for other kinds, when asked not to, or when there is none."""
    if request.kind != "image" or not request.use_sbom:
        return None
    if service in request.sboms:
        return request.sboms[service]
    if ledger is None or not version:
        return None
    from coursectl.sbom.store import recorded

    found = recorded(ledger, service, version)
    if found is None:
        return None
    try:
        found.verified_bytes()
    except CoursectlError as exc:
        log.warning("%s: scanning the image instead", exc.message)
        return None
    return str(found.path)


def _with_service(finding: Finding, service: str) -> Finding:
    from dataclasses import replace

    return replace(finding, service=service)


def _order(j: Judged) -> tuple[Any, ...]:
    from coursectl.domain import severity_rank

    return (j.finding.service or "", -severity_rank(j.finding.severity), j.finding.id, j.finding.package)


def record_scan(ledger: Any, report: ScanReport, *, environment: str | None, commit: str | None) -> None:
    """One ledger event per service × scanner run (outcome passed, blocked, skipped or error)."""
    actor = current_actor()
    for run in report.runs:
        mine = report.findings_of(run.service, run.scanner)
        blocking = [j for j in mine if j.blocking]
        ledger.record(
            LedgerEvent(
                kind="scan",
                actor=actor,
                environment=environment,
                service=run.service,
                version=run.version,
                git_commit=commit,
                outcome=report.run_outcome(run),
                details={
                    "scanner": run.scanner,
                    "kind": run.kind,
                    "target": run.target,
                    "fail_on": report.fail_on,
                    "findings": len(mine),
                    "by_severity": report.counts(mine),
                    "blocking": [f"{j.finding.id} {j.finding.package}".strip() for j in blocking[:50]],
                    "ignored": sum(1 for j in mine if j.decision in ("ignored", SUPPRESSED)),
                    "message": run.message,
                },
            )
        )
