"""`release`: build (changed only) → scan → push → roll out each changed service → journey smoke → summary."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coursectl.domain import LedgerEvent
from coursectl.errors import CoursectlError, GateBlocked, RolloutFailed
from coursectl.rollout.state import PAUSED

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class ReleaseStage:
    name: str
    status: str  # ok | skipped | failed
    detail: str = ""
    data: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "data": self.data}


@dataclass
class ReleaseReport:
    environment: str
    stages: list[ReleaseStage] = field(default_factory=list)
    deployed: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    duration: float = 0.0
    sbom: dict[str, Any] = field(default_factory=dict)  # per service: SBOM, licences, dependency changes

    @property
    def ok(self) -> bool:
        return all(s.status != "failed" for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "ok": self.ok,
            "duration_s": round(self.duration, 1),
            "stages": [s.to_dict() for s in self.stages],
            "deployed": self.deployed,
            "sbom": self.sbom,
            "status": self.status,
        }


def _scan(
    ctx: Any, services: Sequence[str], artifacts: dict[str, dict[str, Any]], sboms: dict[str, str] | None = None
) -> ReleaseStage:
    """Scan the pushed images with the configuration's policy (recorded in the ledger by the scan piece).

    Scanners that are not installed are recorded skips when the environment allows it (``scan.skip_missing``),
    otherwise ToolMissing (exit 4) — never a silent pass.
    """
    try:
        from coursectl.api.scan import ScanRequest, run_scan
    except ImportError:  # a build without the scan piece: say so, and record it as a skip
        detail = "scanning is not part of this coursectl build: recorded as a skip, not a pass"
        for service in services:
            ctx.ledger.record(
                LedgerEvent(
                    kind="scan",
                    actor=ctx.actor,
                    environment=ctx.env_name,
                    service=service,
                    outcome="skipped",
                    details={"reason": detail, "source": "release"},
                )
            )
        return ReleaseStage("scan", "skipped", detail)
    tags = {artifacts[s]["version"] for s in services}
    tag = tags.pop() if len(tags) == 1 else None  # one release tag (the commit) unless the builds disagree
    from coursectl.wiring import head_commit, scanners  # api → wiring: one of the named exceptions (issue 14)

    report = run_scan(
        ctx.loaded,
        ScanRequest(services=tuple(services), kind="image", tag=tag, environment=ctx.env_name, sboms=sboms or {}),
        scanners=scanners(ctx.loaded),
        commit=head_commit(ctx.loaded.root),
        ledger=ctx.ledger,
    )
    outcome = report.outcome
    counts = report.counts()
    detail = {
        "passed": f"passed ({', '.join(f'{k} {v}' for k, v in counts.items() if v) or 'no findings'})",
        "skipped": "every scanner skipped: " + "; ".join(sorted({r.message for r in report.skipped})),
        "blocked": f"{len(report.blocking)} findings at or above {report.fail_on}",
        "error": "; ".join(r.message for r in report.errors),
    }.get(outcome, outcome)
    status = {"passed": "ok", "skipped": "skipped"}.get(outcome, "failed")
    return ReleaseStage("scan", status, detail, report.to_dict())


def _sbom(
    ctx: Any, names: Sequence[str], artifacts: dict[str, dict[str, Any]], report: ReleaseReport,
    progress: Progress, svc: Any = None,
) -> dict[str, str]:  # fmt: skip
    """The ``sbom`` stage (api/sbom.py does the work): appends the stage, fills ``report.sbom``, returns
    service → SBOM file for the scan. A denied licence blocks like a scan finding (GateBlocked, exit 6)."""
    from coursectl.api.sbom import release_sboms

    progress("sbom: syft on every image, licence policy, dependency changes against the live version")
    if svc is None:
        from coursectl.wiring import sbom_service

        svc = sbom_service(ctx.loaded, state_dir=ctx.state_dir, ledger=ctx.ledger)
    versions = {name: artifacts[name]["version"] for name in names}
    stage = release_sboms(svc, names, versions, environment=ctx.env_name, progress=progress)
    report.sbom = stage.services
    report.stages.append(ReleaseStage("sbom", stage.status, stage.detail, stage.to_dict()))
    if stage.status == "failed":
        raise GateBlocked(f"licence policy blocked the release: {stage.detail}")
    return stage.sboms


def release(
    ctx: Any,
    services: Sequence[str] = (),
    *,
    progress: Progress = lambda _m: None,
    image_service: Any = None,
    journey: Callable[[str], Any] | None = None,
    sbom_service: Any = None,
    set_env: Mapping[str, str] | None = None,
) -> ReleaseReport:
    """Release the platform (or ``services``) to the context's environment; the report, never an exit.

    ``set_env`` is extra environment for every service rolled out (drills): a service whose live slot runs the
    same version with another environment is rolled out again, with the environment's strategy.
    """
    from coursectl.api import rollout as api
    from coursectl.api.journey import journey_for

    began = time.monotonic()
    report = ReleaseReport(ctx.env_name)
    names = list(services or sorted(ctx.config.services))
    ctx.ledger.record(
        LedgerEvent(
            kind="release",
            actor=ctx.actor,
            environment=ctx.env_name,
            outcome="started",
            details={"services": names},
        )
    )
    try:
        # 1. build (changed only) and push
        progress("build: changed services only, then push")
        if image_service is None:
            from coursectl.wiring import image_service as make_images

            image_service = make_images(ctx.loaded, state_dir=ctx.state_dir, ledger=ctx.ledger)
        built = image_service.build(
            names, push=True, changed_only=True, progress=lambda svc, phase, msg: progress(f"  {svc}: {msg}")
        )
        rows = [r.to_dict() for r in built.results]
        failed = [r["service"] for r in rows if r["error"] or r["status"] == "failed"]
        report.stages.append(
            ReleaseStage(
                "build+push",
                "failed" if failed else "ok",
                f"failed: {', '.join(failed)}"
                if failed
                else f"{sum(r['status'] == 'built' for r in rows)} built, "
                f"{sum(r['status'] == 'skipped' for r in rows)} unchanged",
                rows,
            )
        )
        if failed:
            return report
        artifacts = {r["service"]: r for r in rows}
        # 1b. SBOM of every image, licence policy, dependency changes against the live version
        sboms = _sbom(ctx, names, artifacts, report, progress, sbom_service)
        # 2. scan (Trivy reads the SBOMs: no second pull of the images)
        progress("scan")
        stage = _scan(ctx, names, artifacts, sboms)
        report.stages.append(stage)
        if stage.status == "failed":
            raise GateBlocked(f"scan blocked the release: {stage.detail}")
        # 3. roll out what differs from what runs (version, image or environment: deploy's own no-op check)
        status = api.status(ctx, names)
        for name in names:
            art = artifacts[name]
            wanted = dict(version=art["version"], digest=art.get("digest"), set_env=dict(set_env or {}))
            if api.is_live(ctx, name, **wanted):
                report.deployed.append({"service": name, "version": art["version"], "phase": "unchanged"})
                continue
            progress(f"roll out {name} {art['version']}")
            state = api.deploy(ctx, name, **wanted)
            phase = "unchanged" if state.unchanged else state.phase
            report.deployed.append(
                {"service": name, "version": state.version, "phase": phase, "rollout_id": state.id}
            )
            if state.phase == PAUSED:
                raise GateBlocked(
                    f"the rollout of {name} {state.version} is paused: {state.message}",
                    hint=f"coursectl rollout resume|promote|abort {name} --env {ctx.env_name}",
                    details={"rollout_id": state.id},
                )
        report.stages.append(
            ReleaseStage(
                "rollout",
                "ok",
                f"{sum(d['phase'] != 'unchanged' for d in report.deployed)} services rolled out",
                report.deployed,
            )
        )
        # 4. the journey through the edge (kubernetes: the environment's public_url, when it has one), and in a
        #    browser when there is one
        if not status["edge_url"]:
            report.stages.append(ReleaseStage("journey", "skipped", "no public_url for this environment"))
            return report
        progress("journey smoke test through the edge")
        if journey is None:
            from coursectl.wiring import browser_journey  # api → wiring: a named exception (issue 14)

            journey = journey_for(
                ctx.config, ctx.loaded.root, ctx.env.target, state_dir=ctx.state_dir,
                artifacts=ctx.state_dir / "journey" / ctx.env_name, browser=browser_journey(),
            )  # fmt: skip
        result = journey(status["edge_url"])
        skipped = [f"{s.name} {s.detail}" for s in result.steps if getattr(s, "skipped", False)]
        report.stages.append(
            ReleaseStage(
                "journey",
                "ok" if result.ok else "failed",
                "; ".join(s.detail for s in result.steps if not s.ok) or "; ".join(["all steps passed", *skipped]),
                result.to_dict(),
            )
        )
    except RolloutFailed as exc:
        report.stages.append(ReleaseStage("rollout", "failed", exc.message, report.deployed))
        raise
    except GateBlocked as exc:
        if "rollout_id" in exc.details:  # a rollout stopped paused for a human
            report.stages.append(ReleaseStage("rollout", "failed", exc.message, report.deployed))
        else:
            report.stages.append(ReleaseStage("release", "failed", exc.message))
        raise
    except CoursectlError as exc:
        report.stages.append(ReleaseStage("release", "failed", exc.message))
        raise
    finally:
        report.duration = time.monotonic() - began
        try:
            report.status = api.status(ctx, names)
        except CoursectlError as exc:
            report.status = {"error": exc.message}
        ctx.ledger.record(
            LedgerEvent(
                kind="release",
                actor=ctx.actor,
                environment=ctx.env_name,
                outcome="succeeded" if report.ok else "failed",
                details={
                    "stages": [s.to_dict() for s in report.stages if s.name != "build+push"],
                    "deployed": report.deployed,
                    "duration_s": report.duration,
                },
            )
        )
    return report
