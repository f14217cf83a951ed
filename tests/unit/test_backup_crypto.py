"""Backup keys, chunked AES-256-GCM and the part codec: round trips, and every tampering detected by name."""

from __future__ import annotations

import base64
import os

import pytest

from coursectl.backup import chunks, codec
from coursectl.backup.keys import KeyRing, key_id_of, parse_key
from coursectl.errors import BackupCorrupt, PreconditionError

KEY = bytes(range(32))


def test_key_accepts_hex_and_base64_and_gives_a_stable_public_id() -> None:
    hex_key = parse_key(KEY.hex(), source="env:K")
    b64_key = parse_key(base64.b64encode(KEY).decode() + "\n", source="env:K")
    url_key = parse_key(base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("="), source="env:K")
    assert hex_key.material == b64_key.material == KEY
    assert url_key.material == b"\xfb" * 32
    assert hex_key.key_id == key_id_of(KEY) and len(hex_key.key_id) == 16
    assert KEY.hex()[:16] not in hex_key.key_id and "material" not in repr(hex_key)
    assert KEY.hex() not in repr(hex_key)


@pytest.mark.parametrize("text", ["", "short", "a" * 63, base64.b64encode(b"x" * 31).decode(), "z" * 64])
def test_key_of_the_wrong_shape_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(PreconditionError) as info:
        parse_key(text, source="env:BACKUP_KEY")
    assert "env:BACKUP_KEY" in info.value.message
    assert not text or text not in info.value.message


def test_key_ring_names_the_missing_key_id() -> None:
    ring = KeyRing(parse_key(KEY.hex(), source="a"), (parse_key((b"\x01" * 32).hex(), source="b"),))
    assert ring.find(key_id_of(b"\x01" * 32)).material == b"\x01" * 32
    with pytest.raises(PreconditionError, match="cannot decrypt: key id 0123456789abcdef"):
        ring.find("0123456789abcdef")


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 10_000])
def test_seal_and_open_round_trip_at_every_boundary(size: int) -> None:
    data = os.urandom(size)
    sealed = b"".join(chunks.seal([data[:7], data[7:]], key=KEY, part="p", chunk_size=1024))
    assert b"".join(chunks.open_sealed([sealed], key=KEY, part="p")) == data
    full, rest = divmod(size, 1024)
    expected_chunks = max(1, full + (1 if rest else 0))
    assert len(sealed) == chunks.HEADER_LEN + size + 16 * expected_chunks


def _sealed(size: int = 5000) -> bytes:
    return b"".join(chunks.seal([os.urandom(size)], key=KEY, part="db/course.sql", chunk_size=1024))


def test_a_flipped_bit_in_any_chunk_is_named() -> None:
    sealed = _sealed()
    for index in range(5):
        flipped = bytearray(sealed)
        flipped[chunks.HEADER_LEN + index * 1040 + 5] ^= 0x80
        with pytest.raises(BackupCorrupt, match=rf"part db/course.sql: chunk {index} "):
            b"".join(chunks.open_sealed([bytes(flipped)], key=KEY, part="db/course.sql"))


def test_truncation_at_a_chunk_boundary_reordering_and_a_swapped_part_are_detected() -> None:
    sealed = _sealed()
    head, body = sealed[: chunks.HEADER_LEN], sealed[chunks.HEADER_LEN:]
    blocks = [body[i: i + 1040] for i in range(0, len(body), 1040)]
    cases = {
        "truncated at a boundary": head + b"".join(blocks[:3]),
        "reordered": head + blocks[1] + blocks[0] + b"".join(blocks[2:]),
        "chunk dropped": head + blocks[0] + b"".join(blocks[2:]),
        "cut inside a chunk": sealed[:-100],
        "header only": head,
        "bad header": b"XXXX" + sealed[4:],
    }
    for what, data in cases.items():
        with pytest.raises(BackupCorrupt, match="part db/course.sql"):
            b"".join(chunks.open_sealed([data], key=KEY, part="db/course.sql"))
    with pytest.raises(BackupCorrupt):  # the same bytes presented as another part
        b"".join(chunks.open_sealed([sealed], key=KEY, part="db/payment.sql"))
    with pytest.raises(BackupCorrupt):
        b"".join(chunks.open_sealed([sealed], key=b"\x02" * 32, part="db/course.sql"))


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_codec_round_trip_records_sizes_and_digests(compression: str) -> None:
    import hashlib

    data = b"INSERT INTO t VALUES (1, 'abc');\n" * 20_000
    enc = codec.Encoder(iter([data[:1000], data[1000:]]), key=KEY, part="p", compression=compression,
                        chunk_size=4096)
    stored = b"".join(enc)
    assert enc.done and enc.plain.size == len(data) and enc.plain.sha256 == hashlib.sha256(data).hexdigest()
    assert enc.stored.size == len(stored) < len(data) // 10
    assert enc.stored.sha256 == hashlib.sha256(stored).hexdigest()
    assert enc.chunks == -(-(len(stored) - chunks.HEADER_LEN) // 4112)
    expected = codec.Expected("p", compression, enc.plain.size, enc.plain.sha256, enc.stored.size, enc.stored.sha256)
    assert b"".join(codec.decode([stored], key=KEY, expected=expected)) == data


def test_codec_reports_a_part_that_does_not_match_its_manifest() -> None:
    enc = codec.Encoder([b"hello world" * 100], key=KEY, part="p", chunk_size=4096)
    stored = b"".join(enc)
    good = codec.Expected("p", "zstd", enc.plain.size, enc.plain.sha256, enc.stored.size, enc.stored.sha256)
    wrong_plain = codec.Expected("p", "zstd", enc.plain.size, "0" * 64, enc.stored.size, enc.stored.sha256)
    wrong_size = codec.Expected("p", "zstd", enc.plain.size, enc.plain.sha256, enc.stored.size + 1, "0" * 64)
    assert b"".join(codec.decode([stored], key=KEY, expected=good)) == b"hello world" * 100
    with pytest.raises(BackupCorrupt, match="part p: plaintext SHA-256 differs"):
        b"".join(codec.decode([stored], key=KEY, expected=wrong_plain))
    with pytest.raises(BackupCorrupt, match=r"part p: stored size \d+ bytes, the manifest says"):
        b"".join(codec.decode([stored], key=KEY, expected=wrong_size))
