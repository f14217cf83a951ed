"""The SBOM use cases: make (or reuse) an image's SBOM with syft, record it, diff two versions, judge licences.

resolve  service + version → image ref, image digest (push record, else the engine), source (docker/registry)
make     syft writes the SBOM beside the build (state dir); its sha256 and the image digest go to the ledger
reuse    an SBOM already recorded for the same image digest (file verified) is used as it is
diff     two recorded SBOMs (made on demand) → packages added, removed, upgraded, downgraded
judge    the licence policy (sbom.deny_licenses, sbom.allow_unknown, the ignore file) → a ScanReport
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.domain import LedgerEvent, current_actor, utcnow
from coursectl.errors import CoursectlError, PreconditionError, ToolMissing, UsageError
from coursectl.parsers import sbom as sbom_parser
from coursectl.render import image as image_render
from coursectl.render.syft import SBOM_FORMATS
from coursectl.sbom import store
from coursectl.sbom.diff import SbomDiff, diff
from coursectl.sbom.licenses import SCANNER, LicensePolicy, check, license_counts

if TYPE_CHECKING:
    from coursectl.parsers.sbom import SbomDocument
    from coursectl.ports import Builder, Registry, SbomGenerator
    from coursectl.scan.report import ScanReport

log = logging.getLogger(__name__)

PRIMARY = "cyclonedx-json"
"""The format always stored (the one diffs, licence checks and ``trivy sbom`` read)."""


@dataclass(frozen=True)
class SbomRequest:
    """Which image to describe and how; ``None`` means "as the configuration / the ledger says"."""

    service: str
    version: str | None = None
    formats: tuple[str, ...] = (PRIMARY,)
    source: str | None = None
    refresh: bool = False
    environment: str | None = None


@dataclass(frozen=True)
class SbomResult:
    """One service's SBOM: where it is, what it describes, and whether syft ran (made) or it was reused."""

    service: str
    version: str
    status: str  # made | reused | skipped
    image: str = ""
    image_digest: str = ""
    source: str = ""
    files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    document: SbomDocument | None = None
    tool: str = ""
    duration: float = 0.0
    message: str = ""

    @property
    def packages(self) -> int:
        return len(self.document.packages) if self.document else 0

    def path(self, fmt: str = PRIMARY) -> Path | None:
        entry = self.files.get(fmt)
        return Path(entry["path"]) if entry else None

    def to_dict(self) -> dict[str, Any]:
        doc = self.document
        return {
            "service": self.service,
            "version": self.version,
            "status": self.status,
            "image": self.image,
            "image_digest": self.image_digest,
            "source": self.source,
            "files": {k: dict(v) for k, v in self.files.items()},
            "tool": self.tool,
            "packages": self.packages,
            "licenses": license_counts(doc.packages) if doc else {},
            "duration_s": round(self.duration, 3),
            "message": self.message,
        }


@dataclass
class SbomService:
    """The SBOM use cases over one configuration, ledger and state directory.

    ``generator`` is syft (the SbomGenerator port); ``builder`` (the engine, optional) tells whether an image is
    in the local engine and its digests; without it every image is read from the registry. ``registry`` gives a
    registry client (called only when an image was not recorded as pushed).
    """

    config: Any  # coursectl.config.models.Config
    root: Path
    state_dir: Path
    ledger: Any
    generator: SbomGenerator
    builder: Builder | None = None
    registry: Callable[[], Registry] | None = None
    actor: str = field(default_factory=current_actor)
    head: Callable[[], str | None] = lambda: None  # HEAD of the checkout (None: not a git checkout)

    # --- resolve ----------------------------------------------------------------------------------------

    def _check_service(self, service: str) -> None:
        if service not in self.config.services:
            raise UsageError(f"unknown service {service!r}", hint=f"services: {', '.join(self.config.services)}")

    def image_ref(self, service: str, version: str) -> str:
        return image_render.image_ref(self.config.registry.url, self.config.registry.namespace, service, version)

    def current_version(self, service: str) -> str:
        from coursectl.api.scan import current_tag

        return current_tag(service, explicit=None, ledger=self.ledger, root=self.root, commit=self.head())

    def _pushed(self, service: str, version: str) -> LedgerEvent | None:
        for event in self.ledger.events(service=service, kinds=["push"], limit=200):
            tags = (event.details or {}).get("tags") or []
            if event.outcome == "succeeded" and (event.version == version or version in tags):
                return event  # type: ignore[no-any-return]
        return None

    def _local(self, ref: str) -> tuple[str | None, str | None]:
        """``(image id, registry digest)`` of ``ref`` in the local engine (None, None when it is not there)."""
        if self.builder is None:
            return None, None
        try:
            image_id = self.builder.image_id(ref)
            if image_id is None:
                return None, None
            repo = ref.rsplit(":", 1)[0]
            digests = [d.split("@", 1)[1] for d in self.builder.repo_digests(ref) if d.split("@", 1)[0] == repo]
        except CoursectlError as exc:
            log.info("the engine cannot tell about %s: %s", ref, exc.message)
            return None, None
        return image_id, (digests[0] if digests else None)

    def resolve(self, service: str, version: str, source: str | None) -> tuple[str, str, str]:
        """``(image ref, image digest, source)``: the digest recorded at push (the registry's manifest digest),
        else the engine's; the source asked for, else the engine when it has the image, else the registry."""
        ref = self.image_ref(service, version)
        wanted = source or self.config.sbom.source
        if wanted not in ("auto", "docker", "registry"):
            raise UsageError(f"unknown SBOM source {wanted!r}", hint="auto, docker or registry")
        pushed = self._pushed(service, version)
        pushed_digest = str(pushed.details.get("digest") or "") if pushed is not None else ""
        image_id, local_digest = self._local(ref) if wanted != "registry" else (None, None)
        if wanted == "docker" and image_id is None:
            raise PreconditionError(
                f"image {ref} is not in the Docker engine",
                hint="build it (`coursectl build`), or read it from the registry with --source registry",
            )
        chosen = "docker" if wanted == "docker" or (wanted == "auto" and image_id) else "registry"
        digest = pushed_digest or local_digest or (image_id if chosen == "docker" else "") or ""
        if chosen == "registry" and not pushed_digest:
            digest = self._registry_digest(service, version) or ""
            if not digest:
                raise PreconditionError(
                    f"image {ref} is neither in the Docker engine nor recorded as pushed",
                    hint=f"build and push it first (`coursectl build {service} --push`), or pass --version",
                )
        return ref, digest, chosen

    def _registry_digest(self, service: str, version: str) -> str | None:
        """The registry's manifest digest of the tag (None when unknown or the registry cannot be asked)."""
        if self.registry is None:
            return None
        try:
            return self.registry().manifest_digest(image_render.repo_path(self.config.registry.namespace, service),
                                                   version)  # fmt: skip
        except CoursectlError as exc:
            log.info("cannot ask the registry for %s:%s: %s", service, version, exc.message)
            return None

    # --- make -------------------------------------------------------------------------------------------

    def make(self, request: SbomRequest, *, skip_missing: bool = False) -> SbomResult:
        """Make (or reuse) the SBOM of one service's image and record it. ToolMissing (exit 4) when syft is not
        installed, unless ``skip_missing`` (then a recorded skip, never a pass)."""
        self._check_service(request.service)
        bad = [f for f in request.formats if f not in SBOM_FORMATS]
        if bad:
            raise UsageError(f"unknown SBOM format {', '.join(bad)}", hint=f"formats: {', '.join(SBOM_FORMATS)}")
        version = request.version or self.current_version(request.service)
        if not self.generator.available():
            if not skip_missing:
                raise ToolMissing(
                    f"{self.generator.display_name} is not installed (not found on PATH)",
                    hint=self.generator.install_hint,
                    details={"missing": [self.generator.name]},
                )
            message = f"{self.generator.display_name} is not installed: SBOM skipped (sbom.skip_missing)"
            self._record(request, version, "skipped", {"message": message})
            return SbomResult(request.service, version, "skipped", message=message)
        ref, digest, source = self.resolve(request.service, version, request.source)
        formats = tuple(dict.fromkeys((PRIMARY, *request.formats)))
        if not request.refresh:
            reused = self._reuse(request, version, ref, digest, source, formats)
            if reused is not None:
                return reused
        started = time.monotonic()
        paths = {fmt: store.sbom_path(self.state_dir, request.service, version, digest, fmt) for fmt in formats}
        # syft writes beside the final files; they are replaced only when it succeeded, so a failed run (a refused
        # password, a timeout) loses nothing that was recorded before
        partial = {fmt: p.with_name(f".{p.name}.{os.getpid()}.partial") for fmt, p in paths.items()}
        try:
            self.generator.generate(source, ref, partial)
            document = sbom_parser.parse(partial[PRIMARY].read_bytes(), source=str(paths[PRIMARY]))
        except BaseException as exc:  # interrupted too: no partial file is left behind
            for tmp in partial.values():
                tmp.unlink(missing_ok=True)
            if isinstance(exc, CoursectlError):
                self._record(request, version, "failed", {"image": ref, "image_digest": digest, "source": source,
                                                          "error": exc.message})  # fmt: skip
            raise
        for fmt, tmp in partial.items():
            os.replace(tmp, paths[fmt])
        files = {fmt: {"path": str(p), "sha256": store.sha256_file(p)} for fmt, p in paths.items()}
        result = SbomResult(
            service=request.service, version=version, status="made", image=ref, image_digest=digest,
            source=source, files=files, document=document, tool=f"syft {self.generator.version()}",
            duration=time.monotonic() - started,
        )  # fmt: skip
        return result

    def _reuse(self, request: SbomRequest, version: str, ref: str, digest: str, source: str,
               formats: Sequence[str]) -> SbomResult | None:  # fmt: skip
        found = {
            f: store.recorded(self.ledger, request.service, version, fmt=f, image_digest=digest) for f in formats
        }
        if not all(found.values()):
            return None
        try:
            data = {f: s.verified_bytes() for f, s in found.items() if s is not None}
        except PreconditionError as exc:
            log.warning("%s: making it again", exc.message)
            return None
        primary = found[PRIMARY]
        assert primary is not None
        document = sbom_parser.parse(data[PRIMARY], source=str(primary.path))
        return SbomResult(
            service=request.service, version=version, status="reused", image=ref, image_digest=digest,
            source=str(primary.event.details.get("source") or source),
            files={f: {"path": str(s.path), "sha256": s.sha256} for f, s in found.items() if s is not None},
            document=document, tool=str(primary.event.details.get("tool") or ""),
            message=f"already made at {primary.event.time.isoformat(timespec='seconds')}",
        )  # fmt: skip

    def record(self, request: SbomRequest, result: SbomResult, licenses: ScanReport | None = None) -> None:
        """The ``sbom`` ledger event of a made or reused SBOM: files and digests, image digest, licence verdict."""
        details: dict[str, Any] = {
            "image": result.image,
            "image_digest": result.image_digest,
            "source": result.source,
            "files": {k: dict(v) for k, v in result.files.items()},
            "packages": result.packages,
            "tool": result.tool,
            "reused": result.status == "reused",
            "duration_s": round(result.duration, 3),
        }
        outcome = "succeeded"
        if licenses is not None:
            mine = licenses.findings_of(result.service)
            blocking = [j for j in mine if j.blocking]
            outcome = "blocked" if blocking else "succeeded"
            details["licenses"] = {
                "outcome": "blocked" if blocking else "passed",
                "deny": list(self.config.sbom.deny_licenses),
                "allow_unknown": self.config.sbom.allow_unknown,
                "blocking": [f"{j.finding.id} {j.finding.package}" for j in blocking[:50]],
                "ignored": sum(1 for j in mine if j.decision == "ignored"),
            }
        self._record(request, result.version, outcome, details)

    def _record(self, request: SbomRequest, version: str, outcome: str, details: dict[str, Any]) -> None:
        pushed = self._pushed(request.service, version)
        self.ledger.record(
            LedgerEvent(
                kind="sbom",
                actor=self.actor,
                environment=request.environment,
                service=request.service,
                version=version,
                git_commit=pushed.git_commit if pushed is not None else None,
                outcome=outcome,
                details=details,
            )
        )

    # --- licences ---------------------------------------------------------------------------------------

    def licenses(
        self, results: Sequence[SbomResult], *, ignore_file: Path | None = None, today: date | None = None
    ) -> ScanReport:
        """The licence policy over each SBOM, as a scan report (kind ``license``): the same JSON, SARIF and JUnit
        as ``coursectl scan``; a denied licence is a blocking finding."""
        from coursectl.scan.ignores import load_ignores
        from coursectl.scan.report import ScannerRun, ScanReport

        started = utcnow()
        today = today or started.date()
        cfg = self.config.sbom
        policy = LicensePolicy(deny=tuple(cfg.deny_licenses), allow_unknown=cfg.allow_unknown)
        path = ignore_file or (self.root / self.config.scan.ignore_file)
        ignores = tuple(load_ignores(path))
        runs = []
        judged = []
        for r in results:
            base: dict[str, Any] = {"service": r.service, "scanner": SCANNER, "kind": "license",
                                    "target": r.image or r.service, "version": r.version}  # fmt: skip
            if r.document is None:
                runs.append(ScannerRun(**base, status="skipped", message=r.message or "no SBOM"))
                continue
            mine = check(r.document.packages, policy, service=r.service, target=r.image, ignores=ignores,
                         today=today)  # fmt: skip
            unknown = sum(1 for p in r.document.packages if not p.licenses)
            runs.append(ScannerRun(**base, status="ok", meta={"packages": r.packages, "unknown_licenses": unknown,
                                                              "findings": len(mine)}))  # fmt: skip
            judged.extend(mine)
        return ScanReport(
            kind="license",
            fail_on="HIGH",
            ignore_unfixed=False,
            ignore_file=str(path),
            runs=tuple(runs),
            judged=tuple(judged),
            expired_ignores=tuple(e for e in ignores if e.expired(today)),
            started_at=started,
            finished_at=utcnow(),
        )

    # --- diff -------------------------------------------------------------------------------------------

    def document(self, service: str, version: str, *, make_missing: bool = True) -> tuple[SbomDocument, str]:
        """The recorded SBOM of ``service`` at ``version`` (verified), made first when there is none and
        ``make_missing``; ``(document, path)``."""
        self._check_service(service)
        found = store.recorded(self.ledger, service, version)
        if found is None:
            if not make_missing:
                raise PreconditionError(
                    f"no SBOM recorded for {service} {version}",
                    hint=f"make it: coursectl sbom {service} --version {version}",
                )
            request = SbomRequest(service, version)
            result = self.make(request)
            self.record(request, result)
            assert result.document is not None
            return result.document, str(result.path())
        return sbom_parser.parse(found.verified_bytes(), source=str(found.path)), str(found.path)

    def diff(self, service: str, before: str, after: str, *, make_missing: bool = True) -> SbomDiff:
        """Packages added, removed and changed from version ``before`` to version ``after`` of ``service``."""
        old, old_path = self.document(service, before, make_missing=make_missing)
        new, new_path = self.document(service, after, make_missing=make_missing)
        meta = {
            "service": service,
            "before": {"version": before, "sbom": old_path},
            "after": {"version": after, "sbom": new_path},
        }
        return diff(old.packages, new.packages, meta)


# --- release -------------------------------------------------------------------------------------------------


@dataclass
class SbomStage:
    """What the release's ``sbom`` stage did: per service the SBOM, its licence verdict and its dependency
    changes against the version live in the environment before this release."""

    status: str  # ok | skipped | failed
    detail: str
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    sboms: dict[str, str] = field(default_factory=dict)
    licenses: ScanReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"services": self.services, "licenses": self.licenses.to_dict() if self.licenses else None}


def live_version(ledger: Any, service: str, environment: str) -> str | None:
    """The version of the last succeeded deployment of ``service`` in ``environment`` (None when none)."""
    for event in ledger.events(service=service, environment=environment, kinds=["deployment"], limit=50):
        if event.outcome == "succeeded" and event.version:
            return str(event.version)
    return None


def release_sboms(
    svc: SbomService, services: Sequence[str], versions: Mapping[str, str], *, environment: str,
    progress: Callable[[str], None] = lambda _m: None,
) -> SbomStage:  # fmt: skip
    """Make (or reuse) the SBOM of each service's release image, judge the licence policy, and diff each against
    the live version's SBOM (made on demand; a version without one is said, not guessed)."""
    cfg = svc.config.sbom
    if not cfg.enabled:
        return SbomStage("skipped", "sbom.enabled is false")
    target = svc.config.environments[environment].target if environment in svc.config.environments else None
    if target == "process":
        return SbomStage("skipped", f"environment {environment} runs local processes, not images: no SBOM")
    results: list[SbomResult] = []
    requests: dict[str, SbomRequest] = {}
    for name in services:
        request = SbomRequest(name, versions[name], environment=environment)
        requests[name] = request
        result = svc.make(request, skip_missing=cfg.skip_missing)
        progress(f"  {name}: SBOM {result.status} ({result.packages} packages)")
        results.append(result)
    made = [r for r in results if r.status != "skipped"]
    if not made:
        return SbomStage("skipped", "; ".join(sorted({r.message for r in results})),
                         {r.service: {"version": r.version, "status": r.status} for r in results})  # fmt: skip
    report = svc.licenses(made)
    stage = SbomStage("ok", "", licenses=report)
    for result in results:
        entry: dict[str, Any] = result.to_dict()
        entry.pop("licenses", None)
        if result.status == "skipped":
            stage.services[result.service] = entry
            continue
        svc.record(requests[result.service], result, report)
        stage.sboms[result.service] = str(result.path())
        previous = live_version(svc.ledger, result.service, environment)
        entry["previous_version"] = previous
        if previous is None:
            entry["dependencies"] = "first release: no live version to compare with"
        elif previous == result.version:
            entry["dependencies"] = "unchanged (the live version)"
        else:
            try:
                changes = svc.diff(result.service, previous, result.version)
                entry["dependencies"] = changes.summary()
                entry["dependency_changes"] = changes.to_dict()
            except CoursectlError as exc:
                entry["dependencies"] = f"unknown: no SBOM of the live version {previous} ({exc.message})"
        stage.services[result.service] = entry
    blocking = report.blocking
    if blocking:
        stage.status = "failed"
        stage.detail = f"{len(blocking)} licence finding(s): " + ", ".join(
            sorted({f"{j.finding.service}: {j.finding.id} ({j.finding.package})" for j in blocking})[:6]
        )
    else:
        skipped = [r.service for r in results if r.status == "skipped"]
        stage.detail = f"{len(made)} SBOM(s), licences passed" + (
            f"; skipped: {', '.join(skipped)}" if skipped else ""
        )
    return stage
