"""`release`: build (changed only) → scan → push → roll out each changed service → journey smoke → summary."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coursectl.api.release_plan import finish, given_version, load_stage, new_release
from coursectl.api.release_run import ReleaseRunner, Watch
from coursectl.domain import LedgerEvent
from coursectl.errors import CoursectlError, GateBlocked, RolloutFailed
from coursectl.rollout.release_state import ReleaseState

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
    release: ReleaseState | None = None  # the ledger entity of the rollout waves

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
            "release": self.release.summary() if self.release else None,
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
    report = run_scan(
        ctx.loaded,
        ScanRequest(services=tuple(services), kind="image", tag=tag, environment=ctx.env_name, sboms=sboms or {}),
        scanners=ctx.scanners(),
        commit=ctx.head_commit(),
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
        svc = ctx.sbom_service()
    versions = {name: artifacts[name]["version"] for name in names}
    stage = release_sboms(svc, names, versions, environment=ctx.env_name, progress=progress)
    report.sbom = stage.services
    report.stages.append(ReleaseStage("sbom", stage.status, stage.detail, stage.to_dict()))
    if stage.status == "failed":
        raise GateBlocked(f"licence policy blocked the release: {stage.detail}")
    return stage.sboms


def _deployed(rel: ReleaseState) -> list[dict[str, Any]]:
    rows = []
    for name in (n for wave in rel.waves for n in wave):
        entry = rel.entry(name)
        phase = {"promoted": "succeeded", "kept": "succeeded"}.get(entry.state, entry.state)
        rows.append({"service": name, "version": entry.version, "phase": phase, "rollout_id": entry.rollout_id,
                     "wave": entry.wave + 1, "from_version": entry.from_version})  # fmt: skip
    return rows


def release(
    ctx: Any,
    services: Sequence[str] = (),
    *,
    progress: Progress = lambda _m: None,
    image_service: Any = None,
    journey: Callable[[str], Any] | None = None,
    sbom_service: Any = None,
    set_env: Mapping[str, str] | None = None,
    version: str | None = None,
    watch: Watch | None = None,
) -> ReleaseReport:
    """Release the platform (or ``services``) to the context's environment; the report, never an exit.

    ``set_env`` is extra environment for every service rolled out (drills): a service whose live slot runs the
    same version with another environment is rolled out again, with the environment's strategy. ``version``:
    release that version of every service, already built and pushed (no build). ``watch`` sees the release
    entity after every change (the live view).
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
        # 1. build (changed only) and push; or the version given, built and pushed before
        if version is not None:
            rows = given_version(ctx, names, version)
            report.stages.append(ReleaseStage("build+push", "skipped", f"--version {version}: no build", rows))
        else:
            progress("build: changed services only, then push")
            if image_service is None:
                image_service = ctx.image_service()
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
        # 3. roll out what differs from what runs (version, image or environment: deploy's own no-op check),
        #    in waves: in parallel within a wave, all or nothing when the environment asks for it
        status = api.status(ctx, names)
        live = {s["name"]: s["version"] for s in status["services"]}
        rel = new_release(ctx, names, artifacts, live, set_env=dict(set_env or {}))
        for name, entry in rel.services.items():
            if entry.state == "unchanged":
                report.deployed.append({"service": name, "version": entry.version, "phase": "unchanged"})
        report.release = rel
        if rel.waves:
            progress(
                f"release {rel.id}: {len(rel.waves)} wave(s), {rel.parallel} at a time,"
                f" on failure: {rel.on_failure}"
            )
        runner = ReleaseRunner(ctx, rel, progress=progress, watch=watch)
        runner.save()
        try:
            runner.run()
        finally:
            report.deployed.extend(_deployed(rel))
        report.stages.append(
            ReleaseStage(
                "rollout",
                "ok",
                f"{sum(d['phase'] != 'unchanged' for d in report.deployed)} services rolled out"
                + (f" in {len(rel.waves)} waves" if len(rel.waves) > 1 else ""),
                report.deployed,
            )
        )
        # 3b. the environment's load test, before the release is declared good
        load_stage(ctx, runner, status["edge_url"], report, progress)
        # 4. the journey through the edge (kubernetes: the environment's public_url, when it has one), and in a
        #    browser when there is one
        if not status["edge_url"] or not ctx.config.journey.enabled:
            why = "no public_url for this environment" if not status["edge_url"] else "journey.enabled: false"
            report.stages.append(ReleaseStage("journey", "skipped", why))
            finish(runner, report)
            return report
        progress("journey smoke test through the edge")
        if journey is None:
            journey = journey_for(
                ctx.config, ctx.loaded.root, ctx.env.target, state_dir=ctx.state_dir,
                artifacts=ctx.state_dir / "journey" / ctx.env_name, browser=ctx.browser_journey(),
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
        if not result.ok and rel.waves:  # a journey that fails after the rollouts: like a failed rollout
            runner.settle(reason="journey failed: " + report.stages[-1].detail)
        finish(runner, report)
    except RolloutFailed as exc:
        report.stages.append(ReleaseStage("rollout", "failed", exc.message, report.deployed))
        raise
    except GateBlocked as exc:
        if "rollout_id" in exc.details or "release_id" in exc.details:  # a rollout stopped paused for a human
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
                    "release_id": report.release.id if report.release else None,
                    "stages": [s.to_dict() for s in report.stages if s.name != "build+push"],
                    "deployed": report.deployed,
                    "duration_s": report.duration,
                },
            )
        )
    return report
