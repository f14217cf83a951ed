"""The build, push and images use cases: plan, build in parallel, tag, push, record — never print, never exit.

plan     git state + base image id + inputs digest → version, tags, build args, labels per service
decide   --changed-only: skip a service whose inputs digest was already pushed (ledger or registry tag)
prebuild a service's commands before its image (e.g. the storefront's ``npm ci`` + ``npm run build``)
build    several services at once; a failure is a result (with the log tail), the others finish
push     every tag; what the registry already has is a no-op; the digest is resolved and recorded
record   one ledger event per build and per push
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from coursectl.domain import LedgerEvent, current_actor, utcnow
from coursectl.errors import CoursectlError, ExternalError, PreconditionError, UsageError
from coursectl.images.inputs import inputs_digest
from coursectl.render import image as image_render
from coursectl.render.tags import GitState, compute_tags, inputs_tag

if TYPE_CHECKING:
    from coursectl.ports import Builder, CommandRunner, Registry

log = logging.getLogger(__name__)

Status = Literal["built", "skipped", "failed", "would-build", "would-skip", "pushed", "not-built"]
Progress = Callable[[str, str, str], None]
"""``progress(service, phase, message)``; phases: plan, skip, prebuild, build, log, tag, push, done, failed."""


def _quiet(service: str, phase: str, message: str) -> None:
    return None


@dataclass(frozen=True)
class RegistryAccess:
    """Where images go and how to log in there (the password never leaves this object but to the engine)."""

    url: str
    namespace: str
    username: str | None = None
    password: str | None = None

    def auth_config(self) -> dict[str, str] | None:
        """The docker engine's auth config (sent in an API header, never on a command line)."""
        if not self.username:
            return None
        return {"username": self.username, "password": self.password or "", "serveraddress": self.url}

    def __repr__(self) -> str:
        return f"RegistryAccess(url={self.url!r}, namespace={self.namespace!r}, username={self.username!r})"


@dataclass(frozen=True)
class ServicePlan:
    """Everything needed to build one service's image, decided before anything runs."""

    service: str
    context: Path
    dockerfile: str
    repository: str
    repo_path: str
    version: str
    tags: tuple[str, ...]
    inputs_digest: str
    buildargs: Mapping[str, str]
    labels: Mapping[str, str]
    prebuild: tuple[tuple[str, ...], ...] = ()
    service_dir: Path | None = None
    prebuild_timeout: float = 900.0

    @property
    def primary_ref(self) -> str:
        return f"{self.repository}:{self.tags[0]}"

    @property
    def inputs_tag(self) -> str:
        return inputs_tag(self.inputs_digest)


@dataclass(frozen=True)
class ServiceResult:
    """What happened to one service: built, skipped (unchanged), failed — and pushed or not."""

    service: str
    status: Status
    version: str
    tags: tuple[str, ...]
    inputs_digest: str
    repository: str
    image_id: str | None = None
    digest: str | None = None
    pushed: bool = False
    push_noop: bool = False
    reason: str = ""
    duration: float = 0.0
    log_tail: tuple[str, ...] = ()
    error: Mapping[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed" or self.error is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "status": self.status,
            "version": self.version,
            "tags": list(self.tags),
            "repository": self.repository,
            "image_id": self.image_id,
            "digest": self.digest,
            "inputs_digest": self.inputs_digest,
            "pushed": self.pushed,
            "push_noop": self.push_noop,
            "reason": self.reason,
            "duration_s": round(self.duration, 3),
            "log_tail": list(self.log_tail),
            "error": dict(self.error) if self.error else None,
        }


@dataclass(frozen=True)
class BuildReport:
    """The outcome of one build/push run, service by service."""

    git: GitState
    results: tuple[ServiceResult, ...]
    dry_run: bool = False
    pushed: bool = False
    duration: float = 0.0

    @property
    def failed(self) -> list[ServiceResult]:
        return [r for r in self.results if r.failed]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "git": {
                "commit": self.git.sha,
                "branch": self.git.branch,
                "dirty": self.git.dirty,
                "commit_time": self.git.commit_time.isoformat() if self.git.commit_time else None,
            },
            "dry_run": self.dry_run,
            "push": self.pushed,
            "ok": self.ok,
            "duration_s": round(self.duration, 3),
            "services": [r.to_dict() for r in self.results],
        }


@dataclass(frozen=True)
class ImageRow:
    """One image of a service in the registry: its digest, every tag pointing at it, and who runs it."""

    digest: str
    tags: tuple[str, ...]
    created: str | None
    version: str | None
    revision: str | None
    pushed_at: str | None
    environments: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "tags": list(self.tags),
            "created": self.created,
            "version": self.version,
            "revision": self.revision,
            "pushed_at": self.pushed_at,
            "environments": list(self.environments),
        }


@dataclass
class ImageService:
    """The build / push / images use cases over one loaded configuration.

    ``registry_factory`` is called only when the registry is needed (push, ``--changed-only``, images), so a
    plain build needs neither credentials nor a running registry.
    """

    config: Any  # coursectl.config.models.Config
    root: Path
    builder: Builder
    registry_factory: Callable[[], tuple[RegistryAccess, Registry]]
    ledger: Any
    git_reader: Callable[[Path, tuple[str, ...]], GitState]
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    actor: str = field(default_factory=current_actor)
    clock: Callable[[], datetime] = utcnow
    source: str | None = None
    commands: CommandRunner | None = None
    _registry: tuple[RegistryAccess, Registry] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- helpers ----------------------------------------------------------------------------------------

    def registry(self) -> tuple[RegistryAccess, Registry]:
        with self._lock:
            if self._registry is None:
                self._registry = self.registry_factory()
            return self._registry

    def _access_without_login(self) -> RegistryAccess:
        return RegistryAccess(self.config.registry.url, self.config.registry.namespace)

    def select(self, services: Sequence[str]) -> list[str]:
        """The services asked for (all, in configuration order, when none); UsageError (2) for unknown names."""
        known = list(self.config.services)
        unknown = [s for s in services if s not in known]
        if unknown:
            raise UsageError(
                f"unknown service{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                hint=f"services: {', '.join(known)}",
            )
        wanted = set(services)
        return [s for s in known if not wanted or s in wanted]

    @property
    def context(self) -> Path:
        return Path(self.root / self.config.build.context).resolve()

    def dockerfile_of(self, service: str) -> Path:
        svc = self.config.services[service]
        rel = svc.dockerfile or f"{svc.path.rstrip('/')}/Dockerfile"
        return (self.root / rel).resolve()

    def git_state(self) -> GitState:
        try:
            rel_context = self.context.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            rel_context = ""
        return self.git_reader(self.root, (rel_context,) if rel_context and rel_context != "." else ())

    def base_image_id(self) -> str:
        base = self.config.build.base_image
        image_id = self.builder.image_id(base)
        if not image_id:
            raise PreconditionError(
                f"the base image {base} is not in the Docker engine",
                hint="run `coursectl sandbox up` (it builds coursectl/base:bookworm) or set build.base_image",
            )
        return image_id

    # --- plan -------------------------------------------------------------------------------------------

    def plan(
        self, services: Sequence[str], *, git: GitState, base_image_id: str, extra_tags: Sequence[str] = ()
    ) -> list[ServicePlan]:
        """The build plan of each service (pure apart from reading the input files)."""
        cfg = self.config
        access = self._access_without_login()
        now = self.clock()
        context = self.context
        plans = []
        for service in services:
            svc = cfg.services[service]
            shared = [context / s for s in (cfg.build.shared if svc.shared is None else svc.shared)]
            dockerfile = self.dockerfile_of(service)
            if not dockerfile.is_file():
                raise PreconditionError(
                    f"{service}: no Dockerfile at {dockerfile}", hint="set services.<name>.dockerfile"
                )
            service_dir = (self.root / cfg.services[service].path).resolve()
            try:
                df_rel = dockerfile.relative_to(context).as_posix()
            except ValueError:
                raise PreconditionError(
                    f"{service}: the Dockerfile {dockerfile} is outside the build context {context}"
                ) from None
            outputs = [service_dir / o for o in svc.prebuild.outputs] if svc.prebuild else []
            declared = image_render.declared_args(_dockerfile_text(dockerfile))
            shaping = image_render.image_args(
                image_render.build_args(base_image="", version="", git=git, build_time=now, service=service,
                                        declared=declared, port=svc.port)
            )  # fmt: skip
            digest = inputs_digest(context, service_dir, shared, dockerfile, base_image_id, outputs, shaping)
            tagset = compute_tags(
                cfg.build.tags, git, inputs_digest=digest, environ=self.environ, extra=extra_tags
            )
            args = image_render.build_args(
                base_image=cfg.build.base_image, version=tagset.version, git=git, build_time=now,
                service=service, declared=declared, source=self.source, port=svc.port,
            )  # fmt: skip
            labels = image_render.labels(
                service=service, version=tagset.version, git=git, build_time=now,
                source=self.source, inputs_digest=digest, base_image=cfg.build.base_image,
            )  # fmt: skip
            labels.update(image_render.env_overrides(self.environ))
            plans.append(
                ServicePlan(
                    service=service,
                    context=context,
                    dockerfile=df_rel,
                    repository=image_render.repository(access.url, access.namespace, service),
                    repo_path=image_render.repo_path(access.namespace, service),
                    version=tagset.version,
                    tags=tagset.tags,
                    inputs_digest=digest,
                    buildargs=args,
                    labels=labels,
                    prebuild=tuple(tuple(argv) for argv in svc.prebuild.run) if svc.prebuild else (),
                    service_dir=service_dir,
                    prebuild_timeout=svc.prebuild.timeout if svc.prebuild else 900.0,
                )
            )
        return plans

    def _already_pushed(self, plan: ServicePlan, *, need_registry: bool) -> tuple[bool, str | None, str]:
        """Was this inputs digest pushed before? ``(yes, registry digest if known, how we know)``."""
        recorded = None
        for event in self.ledger.events(service=plan.service, kinds=["push"], limit=50):
            if event.outcome == "succeeded" and event.details.get("inputs_digest") == plan.inputs_digest:
                recorded = event
                break
        if recorded is not None and not need_registry:
            return True, recorded.details.get("digest"), f"inputs unchanged since push of {recorded.version}"
        try:
            _, registry = self.registry()
            digest = registry.manifest_digest(plan.repo_path, plan.inputs_tag)
        except CoursectlError as exc:
            if need_registry:
                raise
            log.warning("cannot ask the registry whether %s was pushed: %s", plan.service, exc.message)
            return False, None, ""
        if digest:
            return True, digest, f"registry has {plan.inputs_tag}"
        return False, None, ""

    # --- build ------------------------------------------------------------------------------------------

    def build(
        self,
        services: Sequence[str] = (),
        *,
        push: bool = False,
        changed_only: bool = False,
        parallel: int | None = None,
        dry_run: bool = False,
        extra_tags: Sequence[str] = (),
        progress: Progress = _quiet,
    ) -> BuildReport:
        """Build (and with ``push`` push) the images of ``services`` (all when empty)."""
        started = time.monotonic()
        names = self.select(services)
        workers = parallel or self.config.build.parallel
        if workers < 1:
            raise UsageError("--parallel must be at least 1")
        self.builder.ping()
        git = self.git_state()
        plans = self.plan(names, git=git, base_image_id=self.base_image_id(), extra_tags=extra_tags)
        if push:
            self.registry()  # credentials and reachability are checked before anything is built

        decided: list[tuple[ServicePlan, ServiceResult | None]] = []
        for plan in plans:
            skip: ServiceResult | None = None
            if changed_only:
                done, digest, why = self._already_pushed(plan, need_registry=push)
                if done:
                    skip = self._result(plan, "would-skip" if dry_run else "skipped", digest=digest, reason=why)
                    progress(plan.service, "skip", f"skipped: {why}")
            decided.append((plan, skip))

        if dry_run:
            results = [skip or self._result(p, "would-build", reason="planned") for p, skip in decided]
            return BuildReport(git, tuple(results), dry_run=True, pushed=push, duration=time.monotonic() - started)

        def work(item: tuple[ServicePlan, ServiceResult | None]) -> ServiceResult:
            plan, skip = item
            if skip is not None:
                return (
                    self._retag_skipped(plan, skip, git, progress) if push else self._record_skip(plan, skip, git)
                )
            result = self._build_one(plan, git, progress)
            if push and not result.failed:
                result = self._push_one(plan, result, git, progress)
            return result

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(decided) or 1))) as pool:
            results = list(pool.map(work, decided))
        return BuildReport(git, tuple(results), pushed=push, duration=time.monotonic() - started)

    def _result(self, plan: ServicePlan, status: Status, **kw: Any) -> ServiceResult:
        return ServiceResult(
            service=plan.service,
            status=status,
            version=plan.version,
            tags=plan.tags,
            inputs_digest=plan.inputs_digest,
            repository=plan.repository,
            **kw,
        )

    def _event(self, kind: str, plan: ServicePlan, git: GitState, outcome: str, **details: Any) -> None:
        base = {
            "tags": list(plan.tags),
            "repository": plan.repository,
            "inputs_digest": plan.inputs_digest,
            "commit_time": git.commit_time.isoformat() if git.commit_time else None,
            "dirty": git.dirty,
            "branch": git.branch,
        }
        base.update(details)
        with self._lock:  # one ledger connection is shared by the worker threads
            self.ledger.record(
                LedgerEvent(
                    kind=kind,
                    actor=self.actor,
                    service=plan.service,
                    version=plan.version,
                    git_commit=git.sha,
                    outcome=outcome,
                    details=base,
                )
            )

    def _record_skip(self, plan: ServicePlan, skip: ServiceResult, git: GitState) -> ServiceResult:
        self._event("build", plan, git, "skipped", reason=skip.reason, digest=skip.digest, duration_s=0.0)
        return skip

    def _prebuild(self, plan: ServicePlan, progress: Progress) -> None:
        """The service's commands before its image (in its folder), within its prebuild timeout overall."""
        if not plan.prebuild:
            return
        if self.commands is None or plan.service_dir is None:
            raise PreconditionError(f"{plan.service}: has prebuild commands but no command runner was given")
        deadline = time.monotonic() + plan.prebuild_timeout
        for argv in plan.prebuild:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ExternalError(
                    f"{plan.service}: the prebuild commands took longer than {plan.prebuild_timeout:g} s"
                )
            progress(plan.service, "prebuild", f"running {' '.join(argv)}")
            self.commands.run(
                argv, cwd=plan.service_dir, timeout=left, on_line=lambda line: progress(plan.service, "log", line)
            )

    def _build_one(self, plan: ServicePlan, git: GitState, progress: Progress) -> ServiceResult:
        started = time.monotonic()
        try:
            self._prebuild(plan, progress)
            progress(plan.service, "build", f"building {plan.primary_ref}")
            built = self.builder.build(
                context=plan.context,
                dockerfile=plan.dockerfile,
                tag=plan.primary_ref,
                buildargs=plan.buildargs,
                labels=plan.labels,
                on_line=lambda line: progress(plan.service, "log", line),
                timeout=self.config.build.timeout,
            )
            progress(plan.service, "tag", f"tagging {', '.join(plan.tags)}")
            for tag in plan.tags[1:]:
                self.builder.tag(built.image_id, plan.repository, tag)
        except CoursectlError as exc:
            duration = time.monotonic() - started
            tail = tuple(exc.details.get("log_tail", ())) if exc.details else ()
            progress(plan.service, "failed", exc.message)
            self._event("build", plan, git, "failed", duration_s=round(duration, 3), error=exc.message,
                        log_tail=list(tail[-10:]))  # fmt: skip
            if isinstance(exc, PreconditionError) and not tail and not plan.prebuild:
                raise  # the engine went away: no other build can succeed either
            return self._result(plan, "failed", duration=duration, log_tail=tail, error=exc.to_dict(),
                                reason=exc.message)  # fmt: skip
        duration = time.monotonic() - started
        self._event("build", plan, git, "succeeded", image_id=built.image_id, duration_s=round(duration, 3))
        progress(plan.service, "done", f"built {built.image_id[:19]} in {duration:.1f}s")
        return self._result(plan, "built", image_id=built.image_id, duration=duration, reason="inputs changed")

    def _push_one(
        self, plan: ServicePlan, result: ServiceResult, git: GitState, progress: Progress
    ) -> ServiceResult:
        started = time.monotonic()
        access, registry = self.registry()
        progress(plan.service, "push", f"pushing {plan.repository}")
        try:
            digest, noop = self._push_tags(plan, access, registry, progress)
        except CoursectlError as exc:
            duration = time.monotonic() - started
            progress(plan.service, "failed", exc.message)
            self._event("push", plan, git, "failed", duration_s=round(duration, 3), error=exc.message)
            return replace(result, error=exc.to_dict(), reason=exc.message,
                           duration=result.duration + duration)  # fmt: skip
        duration = time.monotonic() - started
        self._event("push", plan, git, "succeeded", digest=digest, noop=noop, duration_s=round(duration, 3),
                    image_id=result.image_id)  # fmt: skip
        progress(plan.service, "done", f"{'already in the registry' if noop else 'pushed'} {digest}")
        return replace(result, digest=digest, pushed=True, push_noop=noop, duration=result.duration + duration)

    def _push_tags(
        self, plan: ServicePlan, access: RegistryAccess, registry: Registry, progress: Progress
    ) -> tuple[str, bool]:
        """Push every tag of ``plan``; ``(digest, nothing had to move)``.

        A tag the registry already has at the local image's digest is left alone; the first missing tag is
        pushed by the engine, the rest are re-tagged server-side to the same manifest.
        """
        local_digests = [
            d.split("@", 1)[1] for d in self.builder.repo_digests(plan.primary_ref)
            if d.split("@", 1)[0] == plan.repository
        ]  # fmt: skip
        current = {tag: registry.manifest_digest(plan.repo_path, tag) for tag in plan.tags}
        known = next((d for d in local_digests if d in current.values()), None)
        missing = [tag for tag in plan.tags if known is None or current[tag] != known]
        if not missing:
            assert known is not None
            return known, True
        digest = known
        if digest is None:
            pushed = self.builder.push(
                plan.repository, missing[0], auth=access.auth_config(), registry=access.url,
                on_line=lambda line: progress(plan.service, "log", line),
            )  # fmt: skip
            digest = pushed.digest
            missing = missing[1:]
        for tag in missing:
            registry.put_tag(plan.repo_path, digest, tag)
        check = registry.manifest_digest(plan.repo_path, plan.tags[0])
        if check != digest:
            raise ExternalError(
                f"{plan.repository}:{plan.tags[0]} is {check} in the registry, expected {digest} after the push"
            )
        return digest, False

    def _retag_skipped(
        self, plan: ServicePlan, skip: ServiceResult, git: GitState, progress: Progress
    ) -> ServiceResult:
        """An unchanged service still gets this commit's tags, server-side, on the image already pushed."""
        started = time.monotonic()
        access, registry = self.registry()
        digest = skip.digest or registry.manifest_digest(plan.repo_path, plan.inputs_tag)
        try:
            if digest is None:
                raise PreconditionError(f"{plan.repository}:{plan.inputs_tag} vanished from the registry")
            added = [t for t in plan.tags if registry.manifest_digest(plan.repo_path, t) != digest]
            for tag in added:
                registry.put_tag(plan.repo_path, digest, tag)
        except CoursectlError as exc:
            self._event("push", plan, git, "failed", error=exc.message, duration_s=time.monotonic() - started)
            return replace(skip, error=exc.to_dict(), reason=exc.message)
        duration = time.monotonic() - started
        self._record_skip(plan, skip, git)
        self._event("push", plan, git, "succeeded", digest=digest, noop=not added, retagged=added,
                    duration_s=round(duration, 3))  # fmt: skip
        if added:
            progress(plan.service, "push", f"tagged {', '.join(added)} on {digest}")
        return replace(skip, digest=digest, pushed=True, push_noop=not added, duration=duration)

    # --- push -------------------------------------------------------------------------------------------

    def push(
        self, services: Sequence[str] = (), *, parallel: int | None = None, dry_run: bool = False,
        extra_tags: Sequence[str] = (), progress: Progress = _quiet,
    ) -> BuildReport:  # fmt: skip
        """Push the images already built for the current commit (``coursectl build`` first)."""
        started = time.monotonic()
        names = self.select(services)
        self.builder.ping()
        git = self.git_state()
        plans = self.plan(names, git=git, base_image_id=self.base_image_id(), extra_tags=extra_tags)
        missing = [p for p in plans if self.builder.image_id(p.primary_ref) is None]
        if missing:
            raise PreconditionError(
                "not built yet for this commit and inputs: " + ", ".join(p.primary_ref for p in missing),
                hint="run `coursectl build --push` (or `coursectl build` first)",
            )
        if dry_run:
            results = [self._result(p, "would-build", reason="would push") for p in plans]
            return BuildReport(git, tuple(results), dry_run=True, pushed=True, duration=time.monotonic() - started)
        self.registry()

        def work(plan: ServicePlan) -> ServiceResult:
            image_id = self.builder.image_id(plan.primary_ref)
            for tag in plan.tags[1:]:
                self.builder.tag(plan.primary_ref, plan.repository, tag)
            base = self._result(plan, "not-built", image_id=image_id, reason="pushed an existing build")
            result = self._push_one(plan, base, git, progress)
            return replace(result, status="failed" if result.error else "pushed")

        workers = parallel or self.config.build.parallel
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(plans) or 1))) as pool:
            results = list(pool.map(work, plans))
        return BuildReport(git, tuple(results), pushed=True, duration=time.monotonic() - started)

    # --- images -----------------------------------------------------------------------------------------

    def images(self, service: str, environments: Sequence[str] | None = None) -> list[ImageRow]:
        """The images of ``service`` in the registry, newest first, marking the one each environment runs."""
        self.select([service])
        access, registry = self.registry()
        repo = image_render.repo_path(access.namespace, service)
        by_digest: dict[str, list[str]] = {}
        for tag in registry.tags(repo):
            digest = registry.manifest_digest(repo, tag)
            if digest:
                by_digest.setdefault(digest, []).append(tag)
        envs = list(environments) if environments else list(self.config.environments)
        running: dict[str, list[str]] = {}
        for env in envs:
            for event in self.ledger.events(service=service, environment=env, kinds=["deployment"], limit=200):
                if event.outcome == "succeeded" and event.details.get("digest"):
                    running.setdefault(str(event.details["digest"]), []).append(env)
                    break
        pushed_at: dict[str, str] = {}
        for event in self.ledger.events(service=service, kinds=["push"], limit=1000, newest_first=False):
            digest = event.details.get("digest")
            if event.outcome == "succeeded" and digest and digest not in pushed_at:
                pushed_at[str(digest)] = event.time.isoformat().replace("+00:00", "Z")
        rows = []
        for digest, tags in by_digest.items():
            config = registry.image_config(repo, digest)
            labels = (config.get("config") or {}).get("Labels") or {}
            rows.append(
                ImageRow(
                    digest=digest,
                    tags=tuple(sorted(tags)),
                    created=config.get("created"),
                    version=labels.get("org.opencontainers.image.version"),
                    revision=labels.get("org.opencontainers.image.revision"),
                    pushed_at=pushed_at.get(digest),
                    environments=tuple(sorted(running.get(digest, []))),
                )
            )
        rows.sort(key=lambda r: r.pushed_at or r.created or "", reverse=True)
        return rows


def _dockerfile_text(path: Path) -> str:
    """The Dockerfile's text; PreconditionError naming it when it cannot be read as UTF-8 text."""
    from coursectl.textfile import MIB, UnreadableText, read_text

    try:
        return read_text(path, limit=MIB)
    except UnreadableText as exc:
        raise PreconditionError(f"{path} {exc.message}" + (f" ({exc.where})" if exc.where else "")) from None
