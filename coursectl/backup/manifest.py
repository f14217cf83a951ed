"""The manifest of a backup (what it holds, every part's sizes and SHA-256, the source's facts) and the records
of its verifications, each serialised as canonical JSON under an HMAC derived from the backup key.

A manifest names the id of the key that wrote it; reading one with a key ring that lacks that id is
"cannot decrypt: key id X" (exit 4), a MAC that does not match is BackupCorrupt (exit 6). Manifests hold no
secret: sizes, digests, table names, row counts and checksums, file digests.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coursectl.backup.codec import Expected
from coursectl.backup.keys import BackupKey, KeyRing
from coursectl.errors import BackupCorrupt

FORMAT = 1


def canonical(data: Mapping[str, Any]) -> bytes:
    """The bytes a MAC is computed over: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class PartEntry:
    """One part as stored: its name in the backup, its object key, sizes and digests on both sides."""

    name: str
    key: str
    media_type: str
    plain_size: int
    plain_sha256: str
    stored_size: int
    stored_sha256: str
    chunks: int

    def expected(self, compression: str) -> Expected:
        return Expected(
            self.name, compression, self.plain_size, self.plain_sha256, self.stored_size, self.stored_sha256
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Manifest:
    """Everything needed to check and restore one backup (except the key)."""

    backup_id: str
    source: str
    kind: str
    created_at: datetime
    finished_at: datetime
    key_id: str
    salt: bytes
    compression: str
    chunk_size: int
    parts: tuple[PartEntry, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    producer: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stored_size(self) -> int:
        return sum(p.stored_size for p in self.parts)

    @property
    def plain_size(self) -> int:
        return sum(p.plain_size for p in self.parts)

    def part(self, name: str) -> PartEntry:
        for entry in self.parts:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "backup_id": self.backup_id,
            "source": self.source,
            "kind": self.kind,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "key_id": self.key_id,
            "salt": base64.b64encode(self.salt).decode("ascii"),
            "compression": self.compression,
            "encryption": "AES-256-GCM, chunked (chunk index and last-chunk flag authenticated), HKDF-SHA256 keys",
            "chunk_size": self.chunk_size,
            "parts": [p.to_dict() for p in self.parts],
            "plain_size": self.plain_size,
            "stored_size": self.stored_size,
            "facts": dict(self.facts),
            "producer": dict(self.producer),
        }


def seal_manifest(manifest: Manifest, key: BackupKey) -> bytes:
    """The manifest as stored: ``{"manifest": {...}, "mac": "..."}`` (pretty, so people can read it)."""
    body = manifest.body()
    envelope = {"manifest": body, "mac": key.mac("manifest", canonical(body))}
    return (json.dumps(envelope, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _envelope(raw: bytes, what: str) -> tuple[dict[str, Any], str]:
    try:
        doc = json.loads(raw.decode("utf-8"))
        body, mac = doc["manifest"], doc["mac"]
        if not isinstance(body, dict) or not isinstance(mac, str):
            raise TypeError("bad types")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BackupCorrupt(f"{what} is not a valid manifest: {exc}", details={"part": "manifest.json"}) from exc
    return body, mac


def peek_key_id(raw: bytes, what: str = "manifest") -> str:
    """The key id a manifest names, without authenticating it (for listings)."""
    body, _ = _envelope(raw, what)
    return str(body.get("key_id", ""))


def open_manifest(raw: bytes, keys: KeyRing, what: str = "manifest") -> tuple[Manifest, BackupKey]:
    """Authenticate and parse a stored manifest; returns it with the key that wrote it."""
    body, mac = _envelope(raw, what)
    key = keys.find(str(body.get("key_id", "")))
    if not hmac.compare_digest(key.mac("manifest", canonical(body)), mac):
        raise BackupCorrupt(
            f"{what} failed authentication (changed after it was written)", details={"part": "manifest.json"}
        )
    try:
        if body["format"] != FORMAT:
            raise ValueError(f"format {body['format']} is not {FORMAT}")
        parts = tuple(PartEntry(**p) for p in body["parts"])
        manifest = Manifest(
            backup_id=body["backup_id"],
            source=body["source"],
            kind=body["kind"],
            created_at=_time(body["created_at"]),
            finished_at=_time(body["finished_at"]),
            key_id=body["key_id"],
            salt=base64.b64decode(body["salt"]),
            compression=body["compression"],
            chunk_size=int(body["chunk_size"]),
            parts=parts,
            facts=body.get("facts", {}),
            producer=body.get("producer", {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupCorrupt(f"{what} is not a valid manifest: {exc}", details={"part": "manifest.json"}) from exc
    return manifest, key


@dataclass(frozen=True)
class Verification:
    """The record of one verification of a backup: when, whether it restored, how long that took, the verdict."""

    backup_id: str
    time: datetime
    ok: bool
    restored: bool
    restore_seconds: float | None = None
    seconds: float = 0.0
    problems: tuple[str, ...] = ()
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "time": _iso(self.time),
            "ok": self.ok,
            "restored": self.restored,
            "restore_seconds": self.restore_seconds,
            "seconds": self.seconds,
            "problems": list(self.problems),
            "where": self.where,
        }


def seal_verification(record: Verification, key: BackupKey) -> bytes:
    body = record.to_dict()
    envelope = {"manifest": body, "mac": key.mac("verification", canonical(body))}
    return (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode("utf-8")


def open_verification(raw: bytes, key: BackupKey) -> Verification | None:
    """A verification record, or None when it does not authenticate (a forged "verified" must not count)."""
    try:
        body, mac = _envelope(raw, "verification record")
    except BackupCorrupt:
        return None
    if not hmac.compare_digest(key.mac("verification", canonical(body)), mac):
        return None
    try:
        return Verification(
            backup_id=str(body["backup_id"]),
            time=_time(body["time"]),
            ok=bool(body["ok"]),
            restored=bool(body["restored"]),
            restore_seconds=body.get("restore_seconds"),
            seconds=float(body.get("seconds") or 0.0),
            problems=tuple(body.get("problems") or ()),
            where=str(body.get("where") or ""),
        )
    except (KeyError, TypeError, ValueError):
        return None
