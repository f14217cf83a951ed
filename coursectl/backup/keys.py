"""Backup keys: parsing the secret, its public key id, and the keys derived from it (HKDF-SHA256)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from coursectl.errors import PreconditionError

KEY_BYTES = 32
_ID_LABEL = b"coursectl backup key id v1"


@dataclass(frozen=True)
class BackupKey:
    """A 256-bit master key and its id (a public fingerprint written into manifests; it reveals nothing)."""

    material: bytes
    key_id: str
    source: str = ""

    def __repr__(self) -> str:  # never show the material
        return f"BackupKey(key_id={self.key_id!r}, source={self.source!r})"

    def derive(self, info: bytes, salt: bytes | None = None) -> bytes:
        """A 256-bit key for one purpose (``info``), optionally bound to a backup's random ``salt``."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(self.material)

    def part_key(self, salt: bytes, part: str) -> bytes:
        """The key of one part of one backup: unique per (backup salt, part name), so chunk nonces can count."""
        return self.derive(b"coursectl/backup/v1/part/" + part.encode("utf-8"), salt)

    def mac(self, domain: str, payload: bytes) -> str:
        """HMAC-SHA256 of ``payload`` under the key derived for ``domain`` (manifest, verification), hex."""
        key = self.derive(b"coursectl/backup/v1/mac/" + domain.encode("utf-8"))
        return hmac.new(key, payload, hashlib.sha256).hexdigest()


def key_id_of(material: bytes) -> str:
    """The public id of a key: 16 hex digits of an HMAC of a fixed label (not reversible)."""
    return hmac.new(material, _ID_LABEL, hashlib.sha256).hexdigest()[:16]


def parse_key(text: str, *, source: str) -> BackupKey:
    """A BackupKey from its secret text: 64 hex digits, or base64 of 32 bytes (``openssl rand -base64 32``).

    ``source`` names where it came from (``env:COURSECTL_BACKUP_KEY``) for error messages; the value never
    appears in them.
    """
    value = text.strip()
    material: bytes | None = None
    if len(value) == 2 * KEY_BYTES:
        try:
            material = bytes.fromhex(value)
        except ValueError:
            material = None
    if material is None:
        padded = value + "=" * (-len(value) % 4)
        for altchars in (None, b"-_"):
            try:
                decoded = base64.b64decode(padded, altchars=altchars, validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(decoded) == KEY_BYTES:
                material = decoded
                break
    if material is None:
        raise PreconditionError(
            f"backup key {source}: expected 32 random bytes as base64 or 64 hex digits",
            hint="make one with: openssl rand -base64 32",
        )
    return BackupKey(material=material, key_id=key_id_of(material), source=source)


@dataclass(frozen=True)
class KeyRing:
    """The current key (used to write) and older ones (still read), looked up by id."""

    current: BackupKey
    previous: tuple[BackupKey, ...] = ()

    def find(self, key_id: str) -> BackupKey:
        """The key with ``key_id``; PreconditionError "cannot decrypt: key id X" when none of ours has it."""
        for key in (self.current, *self.previous):
            if hmac.compare_digest(key.key_id, key_id):
                return key
        known = ", ".join(k.key_id for k in (self.current, *self.previous))
        raise PreconditionError(
            f"cannot decrypt: key id {key_id}",
            hint=f"this backup was written with key id {key_id}; the configured keys have id {known} "
            "(set backups.key, or list the old key under backups.previous_keys)",
            details={"key_id": key_id, "configured": known},
        )
