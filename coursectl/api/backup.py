"""The backup use cases: create, list, verify (with a restore into scratch), restore and prune.

Every create, verify, restore and prune is a ledger event (kind ``backup``, ``details.action``) and is handed to
``on_outcome`` (a BackupOutcome) after it is recorded, so that notifications can follow failures. They return
report objects and never print; expected findings (a corrupt part, a restore that does not match) are data in
the report, and ``raise_for_problems`` turns them into BackupCorrupt (exit 6) as an explicit step.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from coursectl.backup import codec, layout, retention
from coursectl.backup.compare import compare
from coursectl.backup.keys import BackupKey, KeyRing
from coursectl.backup.manifest import (
    Manifest,
    PartEntry,
    Verification,
    open_manifest,
    open_verification,
    seal_manifest,
    seal_verification,
)
from coursectl.domain import BackupOutcome, LedgerEvent, RestoreRequest, SourcePart, utcnow
from coursectl.errors import BackupCorrupt, CoursectlError, LockHeld, PreconditionError, UsageError
from coursectl.processes import holder_alive

if TYPE_CHECKING:
    from coursectl.ports import BackupSource, BackupStore

log = logging.getLogger(__name__)

LOCK_ENVIRONMENT = "backup"
LOCK_TTL = 120.0
HEARTBEAT_EVERY = 30.0


@dataclass(frozen=True)
class SourceSettings:
    """What the use cases need to know of one configured source (the adapter itself is built on demand)."""

    name: str
    kind: str
    store: str
    policy: retention.Policy = field(default_factory=retention.Policy)


@dataclass
class BackupContext:
    """Everything the backup use cases work with: settings, the key ring, stores, sources, the ledger."""

    sources: Mapping[str, SourceSettings]
    keys: Callable[[], KeyRing]
    store_factory: Callable[[str], BackupStore]
    source_factory: Callable[[str], BackupSource]
    ledger: Any
    actor: str
    compression: str = "zstd"
    compression_level: int | None = None
    chunk_size: int = 1024 * 1024
    timezone: str = "UTC"
    grace: float = 86400.0
    clock: Callable[[], datetime] = utcnow
    on_outcome: Callable[[BackupOutcome], None] | None = None
    progress: Callable[[str], None] | None = None
    _stores: dict[str, BackupStore] = field(default_factory=dict)
    _ring: KeyRing | None = None

    def store(self, name: str) -> BackupStore:
        if name not in self._stores:
            self._stores[name] = self.store_factory(name)
        return self._stores[name]

    def store_of(self, source: str) -> BackupStore:
        return self.store(self.settings(source).store)

    def settings(self, source: str) -> SourceSettings:
        if source not in self.sources:
            raise UsageError(
                f"unknown backup source {source!r}",
                hint=f"configured sources: {', '.join(sorted(self.sources)) or 'none'}",
            )
        return self.sources[source]

    def ring(self) -> KeyRing:
        if self._ring is None:
            self._ring = self.keys()
        return self._ring

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def names(self, wanted: Sequence[str] | None) -> list[str]:
        if not wanted:
            return list(self.sources)
        for name in wanted:
            self.settings(name)
        return list(dict.fromkeys(wanted))


# reports -----------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class CreateResult:
    """One backup made (``manifest``), or the error that stopped it (nothing listed as good then)."""

    source: str
    store: str
    backup_id: str
    seconds: float
    manifest: Manifest | None = None
    error: CoursectlError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "store": self.store,
            "backup_id": self.backup_id,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
        }
        if self.manifest is not None:
            m = self.manifest
            out.update(
                parts=[
                    {
                        "name": p.name,
                        "plain_size": p.plain_size,
                        "stored_size": p.stored_size,
                        "plain_sha256": p.plain_sha256,
                    }
                    for p in m.parts
                ],
                plain_size=m.plain_size,
                stored_size=m.stored_size,
                key_id=m.key_id,
                throughput_mb_s=round(m.plain_size / 1e6 / self.seconds, 1) if self.seconds else None,
            )
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out


@dataclass(frozen=True)
class BackupInfo:
    """One complete backup as ``list`` shows it."""

    source: str
    store: str
    backup_id: str
    created_at: datetime
    stored_size: int
    plain_size: int | None
    parts: int | None
    status: str  # verified | unverified | failed | unreadable
    last_verification: Verification | None = None
    last_restore: Verification | None = None
    note: str = ""

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or utcnow()
        return {
            "source": self.source,
            "store": self.store,
            "backup_id": self.backup_id,
            "created_at": _iso(self.created_at),
            "age_seconds": round((now - self.created_at).total_seconds()),
            "stored_size": self.stored_size,
            "plain_size": self.plain_size,
            "parts": self.parts,
            "status": self.status,
            "verified": self.verified,
            "last_verification": self.last_verification.to_dict() if self.last_verification else None,
            "last_restore_at": _iso(self.last_restore.time) if self.last_restore else None,
            "last_restore_seconds": self.last_restore.restore_seconds if self.last_restore else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class Leftover:
    """A folder without a manifest (an interrupted create) or an upload never completed: not a backup."""

    source: str
    store: str
    what: str
    key: str
    size: int
    modified: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "store": self.store,
            "what": self.what,
            "key": self.key,
            "size": self.size,
            "modified": _iso(self.modified),
        }


@dataclass(frozen=True)
class Listing:
    backups: list[BackupInfo]
    leftovers: list[Leftover]
    now: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "backups": [b.to_dict(self.now) for b in self.backups],
            "incomplete": [x.to_dict() for x in self.leftovers],
        }


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on one backup: every part read and checked, and (with a restore) the comparison."""

    source: str
    backup_id: str
    ok: bool
    problems: tuple[str, ...]
    checked: tuple[str, ...]
    parts: int
    bytes_read: int
    seconds: float
    restored: bool = False
    restore_seconds: float | None = None
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "backup_id": self.backup_id,
            "ok": self.ok,
            "problems": list(self.problems),
            "checked": list(self.checked),
            "parts": self.parts,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "restored": self.restored,
            "restore_seconds": None if self.restore_seconds is None else round(self.restore_seconds, 3),
            "restored_into": self.where,
        }


@dataclass(frozen=True)
class RestorePlan:
    source: str
    backup_id: str
    target: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "backup_id": self.backup_id,
            "target": self.target,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True)
class RestoreReport:
    plan: RestorePlan
    where: str
    seconds: float
    problems: tuple[str, ...]
    checked: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "restored_into": self.where,
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "problems": list(self.problems),
            "checked": list(self.checked),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class PruneSourceReport:
    source: str
    store: str
    policy: str
    keep: list[tuple[BackupInfo, tuple[str, ...]]]
    remove: list[BackupInfo]
    leftovers: list[Leftover]
    dry_run: bool

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "source": self.source,
            "store": self.store,
            "policy": self.policy,
            "dry_run": self.dry_run,
            "keep": [{**b.to_dict(now), "reasons": list(r)} for b, r in self.keep],
            "remove": [b.to_dict(now) for b in self.remove],
            "leftovers": [x.to_dict() for x in self.leftovers],
        }


@dataclass(frozen=True)
class PruneReport:
    sources: list[PruneSourceReport]
    now: datetime
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "sources": [s.to_dict(self.now) for s in self.sources]}


# recording -------------------------------------------------------------------------------------------------


def _record(ctx: BackupContext, outcome: BackupOutcome) -> None:
    """The ledger event first, then the hook (a failing hook is logged, never fatal)."""
    ctx.ledger.record(
        LedgerEvent(
            kind="backup",
            actor=ctx.actor,
            service=outcome.source,
            version=outcome.backup_id,
            outcome="succeeded" if outcome.ok else "failed",
            details={
                "action": outcome.action,
                "store": outcome.store,
                "message": outcome.message,
                **dict(outcome.details),
            },
            time=outcome.time,
        )
    )
    if ctx.on_outcome is not None:
        try:
            ctx.on_outcome(outcome)
        except Exception as exc:  # noqa: BLE001 - a notification must not turn a good backup into a failure
            log.warning("backup outcome hook failed: %s", exc)


# locking ---------------------------------------------------------------------------------------------------


@contextmanager
def _source_lock(ctx: BackupContext, source: str, action: str) -> Iterator[None]:
    """The lock of one source (create and prune exclude each other); a lock whose process died on this host is
    taken over at once (so the create after a ``kill -9`` works), others expire ``LOCK_TTL`` after their last
    heartbeat."""
    held = ctx.ledger.lock_info(LOCK_ENVIRONMENT, source)
    take_over = held is not None and not holder_alive(held, ctx.clock())
    reason = f"backup {action} {source} pid={os.getpid()} host={socket.gethostname()}"
    try:
        lock = ctx.ledger.acquire_lock(
            LOCK_ENVIRONMENT, source, holder=ctx.actor, reason=reason, ttl=LOCK_TTL, take_over=take_over
        )
    except LockHeld as exc:
        holder = exc.details.get("holder", "someone")
        raise LockHeld(
            f"backups of {source} are locked by {holder} ({exc.details.get('reason', '')})",
            hint=f"wait for it to finish; a lock whose process died expires within {LOCK_TTL:g} s",
            details=exc.details,
        ) from None
    stop = threading.Event()
    current = [lock]

    def beat() -> None:
        own: Any = ctx.ledger.for_thread()  # SQLite transactions are per connection
        try:
            while not stop.wait(HEARTBEAT_EVERY):
                try:
                    current[0] = own.refresh_lock(current[0], ttl=LOCK_TTL)
                except CoursectlError as exc:
                    log.warning("backup lock heartbeat: %s", exc.message)
        finally:
            if own is not ctx.ledger:
                own.close()

    thread = threading.Thread(target=beat, name="coursectl-backup-lock", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        try:
            ctx.ledger.release_lock(current[0])
        except CoursectlError:
            pass


# create ----------------------------------------------------------------------------------------------------


def create_one(ctx: BackupContext, source_name: str) -> CreateResult:
    """Back up one source: check the store and the source first (nothing is written when either is missing),
    stream every part through compress → encrypt into the store, then write the manifest last."""
    import secrets as _secrets

    settings = ctx.settings(source_name)
    store = ctx.store(settings.store)
    began = time.monotonic()
    created = ctx.clock()
    backup_id = layout.new_backup_id(created)
    written: list[str] = []
    try:
        key = ctx.ring().current
        store.check()
        source = ctx.source_factory(source_name)
        source.check()
        with _source_lock(ctx, source_name, "create"):
            salt = _secrets.token_bytes(16)
            entries: list[PartEntry] = []
            dump = source.dump()
            try:
                for index, part in enumerate(dump):
                    try:
                        entries.append(
                            _store_part(ctx, store, key, salt, source_name, backup_id, index, part, written)
                        )
                    finally:
                        _close(part.chunks)  # an aborted part stops its producer now (a dump process, a thread)
            finally:
                _close(dump)
            finished = ctx.clock()
            manifest = Manifest(
                backup_id=backup_id,
                source=source_name,
                kind=settings.kind,
                created_at=created,
                finished_at=finished,
                key_id=key.key_id,
                salt=salt,
                compression=ctx.compression,
                chunk_size=ctx.chunk_size,
                parts=tuple(entries),
                facts=source.facts(),
                producer={"tool": "coursectl", "version": _version(), "host": socket.gethostname()},
            )
            store.put(layout.manifest_key(source_name, backup_id), [seal_manifest(manifest, key)])
    except BaseException as exc:
        _cleanup(store, written)
        seconds = time.monotonic() - began
        error = exc if isinstance(exc, CoursectlError) else None
        if isinstance(exc, KeyboardInterrupt | SystemExit) or error is None:
            _record(
                ctx,
                BackupOutcome(
                    "create",
                    source_name,
                    False,
                    f"backup of {source_name} interrupted or failed: {type(exc).__name__}",
                    backup_id,
                    settings.store,
                    130 if isinstance(exc, KeyboardInterrupt) else 1,
                    {"seconds": round(seconds, 3)},
                ),
            )
            raise
        _record(
            ctx,
            BackupOutcome(
                "create",
                source_name,
                False,
                f"backup of {source_name} failed: {error.message}",
                backup_id,
                settings.store,
                error.exit_code,
                {"seconds": round(seconds, 3), "error": error.kind},
            ),
        )
        return CreateResult(source_name, settings.store, backup_id, seconds, error=error)
    seconds = time.monotonic() - began
    _record(
        ctx,
        BackupOutcome(
            "create",
            source_name,
            True,
            f"backup {backup_id} of {source_name}: {len(entries)} parts,"
            f" {manifest.plain_size} bytes ({manifest.stored_size} stored) in {seconds:.1f} s",
            backup_id,
            settings.store,
            0,
            {
                "seconds": round(seconds, 3),
                "parts": len(entries),
                "plain_size": manifest.plain_size,
                "stored_size": manifest.stored_size,
                "key_id": key.key_id,
            },
        ),
    )
    return CreateResult(source_name, settings.store, backup_id, seconds, manifest=manifest)


def _store_part(
    ctx: BackupContext,
    store: BackupStore,
    key: BackupKey,
    salt: bytes,
    source_name: str,
    backup_id: str,
    index: int,
    part: SourcePart,
    written: list[str],
) -> PartEntry:
    """Stream one part through compress → encrypt into the store."""
    object_key = layout.part_key(source_name, backup_id, index, part.name)
    ctx.say(f"{source_name}: {part.name} → {store.name}:{object_key}")
    encoder = codec.Encoder(
        part.chunks,
        key=key.part_key(salt, part.name),
        part=part.name,
        compression=ctx.compression,
        chunk_size=ctx.chunk_size,
        level=ctx.compression_level,
    )
    written.append(object_key)
    stored = store.put(object_key, encoder)
    if not encoder.done or stored != encoder.stored.size:
        raise CoursectlError(f"part {part.name}: the store took {stored} bytes of {encoder.stored.size}")
    return PartEntry(
        part.name,
        object_key,
        part.media_type,
        encoder.plain.size,
        encoder.plain.sha256,
        encoder.stored.size,
        encoder.stored.sha256,
        encoder.chunks,
    )


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        close()


def _cleanup(store: BackupStore, keys: Sequence[str]) -> None:
    """Best effort: remove the parts of a create that failed (prune removes whatever this cannot)."""
    if not keys:
        return
    try:
        store.delete(list(keys))
    except Exception as exc:  # noqa: BLE001 - the store may be what failed
        log.warning("could not remove the parts of a failed backup (prune will): %s", exc)


def _version() -> str:
    from coursectl import __version__

    return __version__


def create(ctx: BackupContext, sources: Sequence[str] | None = None) -> list[CreateResult]:
    """Back up each source (all configured ones by default); one failing does not stop the others."""
    return [create_one(ctx, name) for name in ctx.names(sources)]


# reading ---------------------------------------------------------------------------------------------------


def _read_all(store: BackupStore, key: str) -> bytes:
    return b"".join(store.open(key))


def _verifications(
    ctx: BackupContext, store: BackupStore, folder: layout.Folder, key: BackupKey | None
) -> list[Verification]:
    if key is None:
        return []
    found = []
    for obj in folder.verifications:
        try:
            record = open_verification(_read_all(store, obj.key), key)
        except CoursectlError:
            record = None
        if record is not None and record.backup_id == folder.backup_id:
            found.append(record)
    return sorted(found, key=lambda v: v.time)


def _info(
    ctx: BackupContext, source: str, store_name: str, store: BackupStore, folder: layout.Folder
) -> BackupInfo:
    manifest_obj = folder.manifest
    assert manifest_obj is not None
    created = layout.id_time(folder.backup_id) or manifest_obj.modified
    try:
        raw = _read_all(store, manifest_obj.key)
        manifest, key = open_manifest(raw, ctx.ring(), what=f"manifest of {source}/{folder.backup_id}")
    except PreconditionError as exc:  # a key we do not have
        return BackupInfo(
            source, store_name, folder.backup_id, created, folder.size, None, None, "unreadable", note=exc.message
        )
    except BackupCorrupt as exc:
        return BackupInfo(
            source, store_name, folder.backup_id, created, folder.size, None, None, "failed", note=exc.message
        )
    history = _verifications(ctx, store, folder, key)
    restores = [v for v in history if v.restored and v.ok]
    last = history[-1] if history else None
    if last is None:
        status = "unverified"
    elif not last.ok:
        status = "failed"
    elif restores:
        status = "verified"
    else:
        status = "unverified"  # read back but never restored: not yet proven
    return BackupInfo(
        source,
        store_name,
        folder.backup_id,
        manifest.created_at,
        folder.size,
        manifest.plain_size,
        len(manifest.parts),
        status,
        last,
        restores[-1] if restores else None,
    )


def _folders(ctx: BackupContext, source: str) -> tuple[BackupStore, dict[str, layout.Folder]]:
    store = ctx.store_of(source)
    return store, layout.group(store.list(f"{source}/"), source)


def list_backups(ctx: BackupContext, sources: Sequence[str] | None = None) -> Listing:
    """Every complete backup of the sources (newest first) and the leftovers of interrupted ones."""
    backups: list[BackupInfo] = []
    leftovers: list[Leftover] = []
    for source in ctx.names(sources):
        settings = ctx.settings(source)
        store, folders = _folders(ctx, source)
        for backup_id in sorted(folders, reverse=True):
            folder = folders[backup_id]
            if folder.manifest is None:
                leftovers.append(
                    Leftover(
                        source,
                        settings.store,
                        "folder without a manifest",
                        layout.folder(source, backup_id),
                        folder.size,
                        folder.last_modified,
                    )
                )
            else:
                backups.append(_info(ctx, source, settings.store, store, folder))
        for upload in store.pending(f"{source}/"):
            leftovers.append(
                Leftover(
                    source, settings.store, "upload never completed", upload.key, upload.size, upload.modified
                )
            )
    return Listing(backups, leftovers, ctx.clock())


def _resolve(
    ctx: BackupContext, ref: str | None, latest: bool, sources: Sequence[str] | None
) -> list[tuple[str, str]]:
    """(source, backup id) pairs: ``ref`` (``ID`` or ``SOURCE/ID``), or the newest complete backup per source."""
    if latest:
        found = []
        for source in ctx.names(sources):
            _, folders = _folders(ctx, source)
            complete = sorted(i for i, f in folders.items() if f.manifest is not None)
            if complete:
                found.append((source, complete[-1]))
            elif sources:
                raise PreconditionError(
                    f"source {source} has no complete backup yet", hint=f"coursectl backup create {source}"
                )
        if not found:
            raise PreconditionError("there is no complete backup yet", hint="coursectl backup create")
        return found
    if not ref:
        raise UsageError("give a backup ID (see `coursectl backup list`) or --latest")
    wanted_source, _, backup_id = ref.rpartition("/")
    if not layout.is_backup_id(backup_id):
        raise UsageError(f"{ref!r} is not a backup id (expected e.g. 20261130T061500Z-1a2b3c4d)")
    candidates = [wanted_source] if wanted_source else ctx.names(sources)
    for source in candidates:
        store = ctx.store_of(source)
        if store.list(layout.manifest_key(source, backup_id)):
            return [(source, backup_id)]
        if store.list(layout.folder(source, backup_id)):
            raise PreconditionError(
                f"{source}/{backup_id} has no manifest: it is an interrupted backup, not a backup",
                hint="coursectl backup prune removes it after the grace period",
            )
    raise PreconditionError(
        f"no backup {ref} in the stores of {', '.join(candidates)}",
        hint="coursectl backup list shows what there is",
    )


def _load(ctx: BackupContext, source: str, backup_id: str) -> tuple[Manifest, BackupKey, BackupStore]:
    store = ctx.store_of(source)
    raw = _read_all(store, layout.manifest_key(source, backup_id))
    manifest, key = open_manifest(raw, ctx.ring(), what=f"manifest of {source}/{backup_id}")
    return manifest, key, store


class _PartOpener:
    """Opens a part's plaintext (every chunk authenticated, sizes and digests checked at its end); counts bytes."""

    def __init__(self, manifest: Manifest, key: BackupKey, store: BackupStore):
        self.manifest, self.key, self.store = manifest, key, store
        self.opened: set[str] = set()
        self.bytes_read = 0

    def __call__(self, name: str) -> Iterator[bytes]:
        entry = self.manifest.part(name)
        self.opened.add(name)
        return self._stream(entry)

    def _stream(self, entry: PartEntry) -> Iterator[bytes]:
        try:
            stored = self.store.open(entry.key)
        except PreconditionError as exc:
            raise BackupCorrupt(
                f"part {entry.name}: missing from the store ({entry.key})", details={"part": entry.name}
            ) from exc

        def counted() -> Iterator[bytes]:
            for block in stored:
                self.bytes_read += len(block)
                yield block

        yield from codec.decode(
            counted(),
            key=self.key.part_key(self.manifest.salt, entry.name),
            expected=entry.expected(self.manifest.compression),
        )

    def check(self, entry: PartEntry) -> str | None:
        """Read one part to its end; the problem found, or None."""
        try:
            for _ in self(entry.name):
                pass
        except BackupCorrupt as exc:
            return exc.message
        return None


# verify ----------------------------------------------------------------------------------------------------


def verify_one(ctx: BackupContext, source: str, backup_id: str, *, restore: bool = False) -> VerifyResult:
    """Read every part and check it against the manifest; with ``restore``, restore into a scratch place and
    compare with the figures recorded at backup time. The verdict is recorded in the store and the ledger."""
    began = time.monotonic()
    problems: list[str] = []
    checked: list[str] = []
    restored = False
    restore_seconds: float | None = None
    where = ""
    settings = ctx.settings(source)
    try:
        manifest, key, store = _load(ctx, source, backup_id)
    except BackupCorrupt as exc:
        result = VerifyResult(source, backup_id, False, (exc.message,), (), 0, 0, time.monotonic() - began)
        _record_verification(ctx, settings, None, result)
        return result
    except CoursectlError as exc:  # a key we do not have, an unreachable store: no verdict on the backup
        _record(
            ctx,
            BackupOutcome(
                "verify",
                source,
                False,
                f"cannot verify {source}/{backup_id}: {exc.message}",
                backup_id,
                settings.store,
                exc.exit_code,
            ),
        )
        raise
    opener = _PartOpener(manifest, key, store)
    if restore:
        ctx.say(f"{source}/{backup_id}: restoring into a scratch place")
        workdir = tempfile.mkdtemp(prefix="coursectl-verify-")
        try:
            adapter = ctx.source_factory(source)
            outcome = adapter.restore(
                opener,
                [p.name for p in manifest.parts],
                manifest.facts,
                RestoreRequest(scratch=True, workdir=_path(workdir)),
            )
            restored, restore_seconds, where = True, outcome.seconds, outcome.where
            comparison = compare(manifest.facts, outcome.observed)
            problems.extend(comparison.problems)
            checked.extend(comparison.checked)
        except BackupCorrupt as exc:
            problems.append(exc.message)
        except CoursectlError as exc:
            if not opener.opened:  # the scratch place could not be set up: no verdict on the backup
                _record(
                    ctx,
                    BackupOutcome(
                        "verify",
                        source,
                        False,
                        f"cannot verify {source}/{backup_id}: {exc.message}",
                        backup_id,
                        settings.store,
                        exc.exit_code,
                    ),
                )
                raise
            problems.append(f"the restore into a scratch place failed: {exc.message}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    for entry in manifest.parts:  # every part the restore did not read (or all, without a restore)
        if entry.name in opener.opened:
            continue
        ctx.say(f"{source}/{backup_id}: reading {entry.name}")
        problem = opener.check(entry)
        if problem:
            problems.append(problem)
    checked.insert(0, f"{len(manifest.parts)} parts: every chunk authenticated, sizes and SHA-256 as listed")
    result = VerifyResult(
        source,
        backup_id,
        not problems,
        tuple(problems),
        tuple(checked),
        len(manifest.parts),
        opener.bytes_read,
        time.monotonic() - began,
        restored,
        restore_seconds,
        where,
    )
    _record_verification(ctx, settings, key, result)
    return result


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text)


def _record_verification(
    ctx: BackupContext, settings: SourceSettings, key: BackupKey | None, result: VerifyResult
) -> None:
    now = ctx.clock()
    if key is not None:
        record = Verification(
            result.backup_id,
            now,
            result.ok,
            result.restored,
            result.restore_seconds,
            result.seconds,
            result.problems,
            result.where,
        )
        try:
            ctx.store(settings.store).put(
                layout.verification_key(settings.name, result.backup_id, now), [seal_verification(record, key)]
            )
        except CoursectlError as exc:
            log.warning("could not store the verification record: %s", exc.message)
    verdict = "verified" + (" by a restore" if result.restored else "") if result.ok else "FAILED verification"
    message = f"backup {result.backup_id} of {result.source} {verdict}"
    if result.problems:
        message += f": {result.problems[0]}"
    _record(
        ctx,
        BackupOutcome(
            "verify",
            result.source,
            result.ok,
            message,
            result.backup_id,
            settings.store,
            0 if result.ok else BackupCorrupt.exit_code,
            {
                "restored": result.restored,
                "restore_seconds": result.restore_seconds,
                "seconds": round(result.seconds, 3),
                "problems": list(result.problems[:10]),
            },
        ),
    )


def verify(
    ctx: BackupContext,
    ref: str | None = None,
    *,
    latest: bool = False,
    restore: bool = False,
    sources: Sequence[str] | None = None,
) -> list[VerifyResult]:
    """Verify one backup (``ref``) or the newest of each source (``latest``)."""
    return [
        verify_one(ctx, source, backup_id, restore=restore)
        for source, backup_id in _resolve(ctx, ref, latest, sources)
    ]


def raise_for_problems(results: Sequence[VerifyResult]) -> None:
    """The enforcing step: BackupCorrupt (exit 6) naming the first problem when any backup failed."""
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        raise BackupCorrupt(
            f"backup {first.source}/{first.backup_id} failed verification: {first.problems[0]}",
            details={"failed": [f"{r.source}/{r.backup_id}" for r in failed]},
        )


# restore ---------------------------------------------------------------------------------------------------


def plan_restore(ctx: BackupContext, ref: str, *, to: Sequence[str], force: bool = False) -> RestorePlan:
    """What a restore would do (reads only): which backup, into where."""
    ((source, backup_id),) = _resolve(ctx, ref, False, None)
    manifest, _, _ = _load(ctx, source, backup_id)
    adapter = ctx.source_factory(source)
    target = adapter.describe_target(RestoreRequest(to=tuple(to), force=force), manifest.facts)
    return RestorePlan(source, backup_id, target, manifest.created_at)


def restore(ctx: BackupContext, plan: RestorePlan, *, to: Sequence[str], force: bool = False) -> RestoreReport:
    """Check every part first (nothing is written from a damaged backup), then restore and compare."""
    source, backup_id = plan.source, plan.backup_id
    settings = ctx.settings(source)
    began = time.monotonic()
    try:
        manifest, key, store = _load(ctx, source, backup_id)
        opener = _PartOpener(manifest, key, store)
        for entry in manifest.parts:
            ctx.say(f"{source}/{backup_id}: checking {entry.name}")
            problem = opener.check(entry)
            if problem:
                raise BackupCorrupt(
                    f"backup {source}/{backup_id} is damaged, nothing restored: {problem}",
                    details={"part": entry.name},
                )
        adapter = ctx.source_factory(source)
        ctx.say(f"{source}/{backup_id}: restoring into {plan.target}")
        outcome = adapter.restore(
            opener, [p.name for p in manifest.parts], manifest.facts, RestoreRequest(to=tuple(to), force=force)
        )
    except CoursectlError as exc:
        _record(
            ctx,
            BackupOutcome(
                "restore",
                source,
                False,
                f"restore of {source}/{backup_id} failed: {exc.message}",
                backup_id,
                settings.store,
                exc.exit_code,
                {"target": plan.target, "seconds": round(time.monotonic() - began, 3)},
            ),
        )
        raise
    comparison = compare(manifest.facts, outcome.observed)
    report = RestoreReport(
        plan,
        outcome.where,
        outcome.seconds,
        tuple(comparison.problems),
        tuple(comparison.checked),
        tuple(outcome.notes),
    )
    _record(
        ctx,
        BackupOutcome(
            "restore",
            source,
            report.ok,
            f"restored {source}/{backup_id} into {outcome.where} in {outcome.seconds:.1f} s"
            + ("" if report.ok else f", but: {report.problems[0]}"),
            backup_id,
            settings.store,
            0 if report.ok else BackupCorrupt.exit_code,
            {
                "target": outcome.where,
                "seconds": round(outcome.seconds, 3),
                "problems": list(report.problems[:10]),
            },
        ),
    )
    return report


# prune -----------------------------------------------------------------------------------------------------


def prune(ctx: BackupContext, sources: Sequence[str] | None = None, *, dry_run: bool = False) -> PruneReport:
    """Apply each source's retention (restic's rules, plus: the newest verified backup stays) and remove the
    leftovers of interrupted backups older than the grace period. ``dry_run`` changes nothing."""
    now = ctx.clock()
    reports = []
    for source in ctx.names(sources):
        settings = ctx.settings(source)
        if dry_run:
            reports.append(_prune_source(ctx, settings, now, dry_run=True))
            continue
        try:
            with _source_lock(ctx, source, "prune"):
                report = _prune_source(ctx, settings, now, dry_run=False)
        except CoursectlError as exc:
            _record(
                ctx,
                BackupOutcome(
                    "prune",
                    source,
                    False,
                    f"prune of {source} failed: {exc.message}",
                    None,
                    settings.store,
                    exc.exit_code,
                ),
            )
            raise
        reports.append(report)
        _record(
            ctx,
            BackupOutcome(
                "prune",
                source,
                True,
                f"pruned {source}: kept {len(report.keep)}, removed {len(report.remove)} backups and "
                f"{len(report.leftovers)} leftovers",
                None,
                settings.store,
                0,
                {
                    "kept": [b.backup_id for b, _ in report.keep],
                    "removed": [b.backup_id for b in report.remove],
                    "leftovers": [x.key for x in report.leftovers],
                    "policy": report.policy,
                },
            ),
        )
    return PruneReport(reports, now, dry_run)


def _prune_source(
    ctx: BackupContext, settings: SourceSettings, now: datetime, *, dry_run: bool
) -> PruneSourceReport:
    source = settings.name
    store, folders = _folders(ctx, source)
    infos = {i: _info(ctx, source, settings.store, store, f) for i, f in folders.items() if f.manifest is not None}
    verified = sorted((b for b in infos.values() if b.verified), key=lambda b: b.created_at)
    protect = {verified[-1].backup_id: "newest verified backup (never removed)"} if verified else {}
    plan = retention.apply(
        [retention.Item(b.backup_id, b.created_at) for b in infos.values()],
        settings.policy,
        timezone=ctx.timezone,
        protect=protect,
    )
    keep = [(infos[d.item.id], d.reasons) for d in plan.keep]
    remove = [infos[d.item.id] for d in plan.remove]
    cutoff = now - timedelta(seconds=ctx.grace)
    leftovers = [
        Leftover(
            source, settings.store, "folder without a manifest", layout.folder(source, i), f.size, f.last_modified
        )
        for i, f in sorted(folders.items())
        if f.manifest is None and f.last_modified < cutoff
    ]
    pending = [u for u in store.pending(f"{source}/") if u.modified < cutoff]
    leftovers += [
        Leftover(source, settings.store, "upload never completed", u.key, u.size, u.modified) for u in pending
    ]
    if not dry_run:
        for backup in remove:
            folder = folders[backup.backup_id]
            manifest = layout.manifest_key(source, backup.backup_id)
            store.delete([manifest])  # first: from here on it is no longer listed as a backup
            store.delete([o.key for o in folder.objects if o.key != manifest])
        for f in folders.values():
            if f.manifest is None and f.last_modified < cutoff:
                store.delete([o.key for o in f.objects])
        for upload in pending:
            store.discard(upload)
    return PruneSourceReport(source, settings.store, settings.policy.describe(), keep, remove, leftovers, dry_run)
