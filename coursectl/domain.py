"""Frozen value types shared by every layer: ledger events, findings, notifications, backups, images, scans, slots.

The ports (``coursectl.ports``) speak only in these types; so do the engine, the use cases and the adapters.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENT_KINDS = (
    "build",
    "scan",
    "gate",
    "push",
    "deployment",
    "rollout.step",
    "rollout.measurement",
    "rollout.promote",
    "rollout.abort",
    "rollback",
    "backup",
    "lock.acquire",
    "lock.release",
    "lock.takeover",
    "release",
    "sbom",
    "interrupted",
    "notification",
)


def utcnow() -> datetime:
    """The current time in UTC (aware)."""
    return datetime.now(UTC)


def current_actor(environ: Mapping[str, str] | None = None) -> str:
    """Who is acting: ``COURSECTL_ACTOR``, else the Jenkins build, else ``user@host``."""
    env = os.environ if environ is None else environ
    if env.get("COURSECTL_ACTOR"):
        return env["COURSECTL_ACTOR"]
    if env.get("BUILD_TAG"):
        return f"jenkins:{env['BUILD_TAG']}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class LedgerEvent:
    """One recorded fact: something coursectl did or saw, with who, when, where and what."""

    kind: str
    actor: str
    environment: str | None = None
    service: str | None = None
    version: str | None = None
    git_commit: str | None = None
    outcome: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=utcnow)
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "actor": self.actor,
            "environment": self.environment,
            "service": self.service,
            "version": self.version,
            "git_commit": self.git_commit,
            "outcome": self.outcome,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class LockInfo:
    """Who holds the deploy lock of an (environment, service), why, and until when."""

    environment: str
    service: str
    holder: str
    reason: str
    acquired_at: datetime
    expires_at: datetime
    token: str

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "service": self.service,
            "holder": self.holder,
            "reason": self.reason,
            "acquired_at": self.acquired_at.isoformat().replace("+00:00", "Z"),
            "expires_at": self.expires_at.isoformat().replace("+00:00", "Z"),
        }


SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
FINDING_KINDS = ("vuln", "misconfig", "secret", "license")


def normalize_severity(value: object) -> str:
    """``CRITICAL``/``critical``/``Critical`` → ``CRITICAL``; anything unknown (or missing) → ``UNKNOWN``."""
    text = str(value or "").strip().upper()
    return text if text in SEVERITIES else "UNKNOWN"


def severity_rank(value: str) -> int:
    """0 for UNKNOWN up to 4 for CRITICAL (unknown text ranks as UNKNOWN)."""
    return SEVERITIES.index(normalize_severity(value))


@dataclass(frozen=True)
class Finding:
    """One security finding of one package (or file) in one target, as reported by one or more scanners.

    ``id`` is the scanner's identifier (CVE-…, GHSA-…, SNYK-…, DS-0002, aws-access-key-id); ``aliases`` holds the
    other names of the same issue (Snyk's CVE identifiers, Trivy's old AVD-… ids) so that ignore entries and the
    merge of two scanners can match any of them.
    """

    id: str
    package: str = ""
    installed_version: str = ""
    fixed_version: str = ""
    severity: str = "UNKNOWN"
    title: str = ""
    target: str = ""
    scanners: tuple[str, ...] = ()
    status: str = ""
    fixable: bool = False
    url: str = ""
    service: str | None = None
    kind: str = "vuln"
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> frozenset[str]:
        """Every identifier of this issue, upper-cased, for matching."""
        return frozenset(n.upper() for n in (self.id, *self.aliases) if n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "kind": self.kind,
            "severity": self.severity,
            "package": self.package,
            "installed_version": self.installed_version,
            "fixed_version": self.fixed_version,
            "fixable": self.fixable,
            "status": self.status,
            "title": self.title,
            "target": self.target,
            "service": self.service,
            "scanners": list(self.scanners),
            "url": self.url,
        }


# notifications ---------------------------------------------------------------------------------------------

NOTIFY_EVENTS = (
    "build",
    "deploy.started",
    "deploy.progress",
    "deploy.promoted",
    "deploy.aborted",
    "deploy.failed",
    "rollback",
    "gate.blocked",
    "backup.succeeded",
    "backup.failed",
    "lock.takeover",
    "alert.firing",
    "alert.resolved",
    "test",
)
"""Every event coursectl announces. A route may name an event or its family (``deploy`` is every ``deploy.*``).
``deploy.progress`` only updates a message already posted for the same rollout (Slack with a bot token).
``alert.*`` are Prometheus alerts that Alertmanager handed to ``coursectl observability receive``."""

NOTIFY_SEVERITIES = ("info", "warning", "critical")


def severity_level(value: str) -> int:
    """0 for info, 1 for warning, 2 for critical (unknown text ranks as info)."""
    return NOTIFY_SEVERITIES.index(value) if value in NOTIFY_SEVERITIES else 0


@dataclass(frozen=True)
class LogLine:
    """One line a slot wrote: which service and slot, when the runtime stamped it (None: not stamped), the text."""

    service: str
    slot: str
    time: datetime | None
    text: str


@dataclass(frozen=True)
class Notification:
    """One announcement: what happened (``event``), where, to what, how bad, and the facts to show.

    ``key`` groups the notifications of one rollout: a channel that can edit what it posted (Slack with a bot
    token) keeps ONE message per key and updates it in place. ``final`` marks the one notification that closes a
    rollout (or stands alone: a gate, a backup, a build).
    """

    event: str
    title: str
    severity: str = "info"
    environment: str | None = None
    service: str | None = None
    version: str | None = None
    outcome: str | None = None
    summary: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    details: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    key: str | None = None
    final: bool = True
    actor: str | None = None
    duration_s: float | None = None
    time: datetime = field(default_factory=utcnow)

    @property
    def family(self) -> str:
        """``deploy`` for ``deploy.started``; the event itself when it has no dot."""
        return self.event.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "title": self.title,
            "severity": self.severity,
            "environment": self.environment,
            "service": self.service,
            "version": self.version,
            "outcome": self.outcome,
            "summary": self.summary,
            "fields": [list(f) for f in self.fields],
            "details": list(self.details),
            "links": [list(link) for link in self.links],
            "key": self.key,
            "final": self.final,
            "actor": self.actor,
            "duration_s": self.duration_s,
            "time": self.time.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class Delivery:
    """What became of one notification on one channel: sent, updated (in place), failed or skipped."""

    channel: str
    event: str
    status: str
    attempts: int = 1
    error: str | None = None
    ref: str | None = None
    key: str | None = None
    final: bool = True
    error_type: str | None = None  # the coursectl error kind of a failure ("external", "auth", ...)

    @property
    def ok(self) -> bool:
        return self.status in ("sent", "updated")

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "ref": self.ref,
            "key": self.key,
            "final": self.final,
            "error_type": self.error_type,
        }


@dataclass(frozen=True)
class SbomPackage:
    """One package of a software bill of materials: what it is (type, name, purl), which version, which licences.

    ``licenses`` holds what the SBOM declares, as given: SPDX ids (``MIT``), expressions (``GPL-3.0-only OR MIT``)
    or free-text names; empty when the SBOM says nothing (or only ``NOASSERTION``).
    """

    name: str
    version: str = ""
    type: str = ""
    purl: str = ""
    licenses: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The identity of the package across versions: its purl without version, qualifiers and subpath, else
        ``type/name``; Python names are normalised (PEP 503) so ``Foo_Bar`` and ``foo-bar`` are one package."""
        if self.purl.startswith("pkg:"):
            base = self.purl.split("#", 1)[0].split("?", 1)[0]
            at = base.rfind("@")
            if at > base.rfind("/"):
                base = base[:at]
            ptype, _, rest = base[4:].partition("/")
            if ptype == "pypi":
                rest = _pep503(rest)
            return f"pkg:{ptype.lower()}/{rest}"
        name = _pep503(self.name) if self.type in ("python", "pypi") else self.name
        return f"{self.type or 'unknown'}/{name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "purl": self.purl,
            "licenses": list(self.licenses),
        }


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# backups -----------------------------------------------------------------------------------------------------

BACKUP_ACTIONS = ("create", "verify", "restore", "prune")


@dataclass(frozen=True)
class StoredObject:
    """One object in a backup store: its key (relative to the store's prefix), size and last change.

    ``upload_id`` is set only for uploads that were started but never completed (an S3 multipart upload, a local
    temporary file): those are leftovers, never parts of a backup.
    """

    key: str
    size: int
    modified: datetime
    upload_id: str | None = None


@dataclass(frozen=True)
class SourcePart:
    """One part a backup source produces: a name inside the backup and its plaintext as a stream of chunks."""

    name: str
    chunks: Iterator[bytes]
    media_type: str = "application/octet-stream"


@dataclass(frozen=True)
class RestoreRequest:
    """Where a restore goes: ``to`` as the user gave it (database names, a path), or a scratch place for verify."""

    to: tuple[str, ...] = ()
    force: bool = False
    scratch: bool = False
    workdir: Path | None = None


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: where it went, how long it took, what it found there (compared with the manifest)."""

    where: str
    seconds: float
    observed: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackupOutcome:
    """The outcome of one backup action, handed to ``on_outcome`` hooks (notifications) after it is recorded.

    ``ok`` is False for a failed create, a verification that found a problem, a failed restore or prune.
    ``message`` is one line for people; ``details`` holds the same facts as the ledger event (never a secret).
    """

    action: str
    source: str
    ok: bool
    message: str
    backup_id: str | None = None
    store: str | None = None
    exit_code: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "source": self.source,
            "ok": self.ok,
            "message": self.message,
            "backup_id": self.backup_id,
            "store": self.store,
            "exit_code": self.exit_code,
            "details": dict(self.details),
            "time": self.time.isoformat().replace("+00:00", "Z"),
        }


# programs -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    """The result of a finished command."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 20) -> str:
        """The last lines of stderr (or stdout when stderr is empty), for error messages."""
        text = self.stderr.strip() or self.stdout.strip()
        return "\n".join(text.splitlines()[-lines:])


# images and registries ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildResult:
    """A finished build: the image id and the last lines of its log."""

    image_id: str
    log_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class PushResult:
    """A finished push of one tag: the manifest digest and whether any layer had to be uploaded."""

    tag: str
    digest: str
    uploaded: bool


@dataclass(frozen=True)
class TagInfo:
    """One tag of a repository: its manifest digest and what the image's config says."""

    tag: str
    digest: str | None
    created: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "digest": self.digest, "created": self.created, "labels": dict(self.labels)}


@dataclass(frozen=True)
class CiBuild:
    """One build of a CI job (Jenkins): number, result (None while building), start and duration in seconds."""

    number: int
    result: str | None
    started_at: float
    duration: float
    building: bool

    @property
    def finished_at(self) -> float:
        return self.started_at + self.duration


# scans and quality gates ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suppressed:
    """A finding the scanner itself already suppressed (e.g. a ``.snyk`` ignore), with the scanner's reason."""

    finding: Finding
    reason: str
    expires: str | None = None


@dataclass(frozen=True)
class ParsedScan:
    """Everything one scanner run reported: its findings, what it suppressed, and problems it announced."""

    scanner: str
    findings: tuple[Finding, ...] = ()
    suppressed: tuple[Suppressed, ...] = ()
    errors: tuple[str, ...] = ()
    artifact: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


CE_DONE = ("SUCCESS", "FAILED", "CANCELED")


@dataclass(frozen=True)
class CeTask:
    """A compute-engine task (``api/ce/task``): its state and, once done, the analysis id or the error."""

    id: str
    status: str
    analysis_id: str | None = None
    component_key: str = ""
    error_message: str = ""
    error_type: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status in CE_DONE

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "analysis_id": self.analysis_id,
            "component_key": self.component_key,
            "error_message": self.error_message,
            "error_type": self.error_type,
            "warnings": list(self.warnings),
        }


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class GateCondition:
    """One quality-gate condition: metric, comparator, threshold and the actual value, and its status."""

    metric: str
    status: str
    comparator: str = ""
    threshold: str | None = None
    actual: str | None = None
    period_index: int | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("ERROR", "WARN")

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "status": self.status,
            "comparator": self.comparator,
            "threshold": self.threshold,
            "actual": self.actual,
            "threshold_value": _number(self.threshold),
            "actual_value": _number(self.actual),
        }


@dataclass(frozen=True)
class GateStatus:
    """``api/qualitygates/project_status``: the gate's verdict and each condition."""

    status: str
    conditions: tuple[GateCondition, ...] = ()
    ignored_conditions: bool = False
    cayc_status: str = ""
    period: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_conditions(self) -> tuple[GateCondition, ...]:
        return tuple(c for c in self.conditions if c.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "conditions": [c.to_dict() for c in self.conditions],
            "ignored_conditions": self.ignored_conditions,
            "cayc_status": self.cayc_status,
            "period": self.period,
        }


# slots and metrics ----------------------------------------------------------------------------------------------


SLOT_PORT_OFFSETS = {"blue": 100, "stable": 100, "green": 200, "canary": 200}
"""SPEC's slot-port rule (docker and process targets): a slot listens on the service's port + its offset."""


def slot_port(service_port: int, slot: str) -> int:
    """The port of ``slot``: service port + 100 for blue/stable, + 200 for green/canary (course 8002 → 8102)."""
    return service_port + SLOT_PORT_OFFSETS[slot]


@dataclass(frozen=True)
class SlotSpec:
    """What to run in one slot of a service: which version, from which image, where, with which environment."""

    service: str
    slot: str
    version: str
    port: int
    image: str | None = None
    digest: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    rollout_id: str | None = None
    health: str = "/health/ready"
    fingerprint: str | None = None  # of image + env (coursectl.rollout.fingerprint); recorded on the slot


@dataclass(frozen=True)
class SlotState:
    """What runs in one slot right now, as the target sees it."""

    service: str
    slot: str
    version: str
    port: int
    running: bool
    ready: bool
    digest: str | None = None
    rollout_id: str | None = None
    host: str = "127.0.0.1"
    fingerprint: str | None = None  # the spec's fingerprint when the slot was started (None: not recorded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "version": self.version,
            "digest": self.digest,
            "address": f"{self.host}:{self.port}",
            "running": self.running,
            "ready": self.ready,
            "rollout_id": self.rollout_id,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class QueryResult:
    """The answer of a metrics query: a value, no data (value None), or an error (provider down)."""

    query: str
    value: float | None = None
    error: str | None = None
