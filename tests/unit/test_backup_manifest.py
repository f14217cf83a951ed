"""Manifests and verification records: authenticated, bound to their key id, and forged ones refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from coursectl.backup.keys import KeyRing, parse_key
from coursectl.backup.manifest import (
    Manifest,
    PartEntry,
    Verification,
    open_manifest,
    open_verification,
    peek_key_id,
    seal_manifest,
    seal_verification,
)
from coursectl.errors import BackupCorrupt, PreconditionError

KEY = parse_key("11" * 32, source="env:K")
OLD = parse_key("22" * 32, source="file:old")
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _manifest(key_id: str = KEY.key_id) -> Manifest:
    part = PartEntry("db/course.sql", "db/20261130T060000Z-0a0b0c0d/parts/000-db_course.sql.enc", "application/sql",
                     1000, "a" * 64, 300, "b" * 64, 1)
    return Manifest("20261130T060000Z-0a0b0c0d", "db", "mariadb", T0, T0, key_id, b"s" * 16, "zstd", 1048576,
                    (part,), {"databases": {"course": {"tables": {"t": {"rows": 3, "checksum": 42}}}}})


def test_manifest_round_trip_and_readable_json() -> None:
    raw = seal_manifest(_manifest(), KEY)
    doc = json.loads(raw)
    assert doc["manifest"]["parts"][0]["plain_sha256"] == "a" * 64 and doc["manifest"]["key_id"] == KEY.key_id
    assert peek_key_id(raw) == KEY.key_id
    manifest, key = open_manifest(raw, KeyRing(KEY))
    assert manifest == _manifest() and key is KEY
    assert "11" * 32 not in raw.decode()


def test_an_old_key_still_opens_what_it_wrote() -> None:
    raw = seal_manifest(_manifest(OLD.key_id), OLD)
    manifest, key = open_manifest(raw, KeyRing(KEY, (OLD,)))
    assert key is OLD and manifest.key_id == OLD.key_id


def test_wrong_key_is_cannot_decrypt_with_the_key_id() -> None:
    raw = seal_manifest(_manifest(OLD.key_id), OLD)
    with pytest.raises(PreconditionError, match=f"cannot decrypt: key id {OLD.key_id}") as info:
        open_manifest(raw, KeyRing(KEY))
    assert info.value.exit_code == 4


@pytest.mark.parametrize("edit", [
    lambda d: d["manifest"]["parts"][0].update(plain_size=999),
    lambda d: d["manifest"]["facts"]["databases"]["course"]["tables"]["t"].update(rows=4),
    lambda d: d.update(mac="0" * 64),
])
def test_a_changed_manifest_does_not_authenticate(edit) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(seal_manifest(_manifest(), KEY))
    edit(doc)
    with pytest.raises(BackupCorrupt, match="failed authentication") as info:
        open_manifest(json.dumps(doc).encode(), KeyRing(KEY))
    assert info.value.exit_code == 6


def test_garbage_is_not_a_manifest() -> None:
    with pytest.raises(BackupCorrupt, match="not a valid manifest"):
        open_manifest(b"{not json", KeyRing(KEY))


def test_verification_records_authenticate_and_forgeries_do_not_count() -> None:
    record = Verification("20261130T060000Z-0a0b0c0d", T0, True, True, 12.5, 14.0, (), "scratch")
    raw = seal_verification(record, KEY)
    assert open_verification(raw, KEY) == record
    assert open_verification(raw, OLD) is None
    forged = json.loads(raw)
    forged["manifest"]["ok"] = False
    assert open_verification(json.dumps(forged).encode(), KEY) is None
