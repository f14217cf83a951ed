"""AES-256-GCM over a stream in authenticated chunks: each chunk's index and a last-chunk flag are in its
associated data, so a flipped bit, a reordered or dropped chunk and a truncated stream are all detected.

A sealed stream is a 9-byte header (magic ``CCBK``, format 1, the chunk size as a 32-bit big-endian number)
followed by chunks of ``chunk_size`` plaintext bytes (the last one shorter, possibly empty), each sealed as
ciphertext + 16-byte tag. Chunk ``i`` uses the nonce ``0x00000000 || i`` (64-bit big-endian): safe because every
part of every backup has its own key (see keys.BackupKey.part_key). The associated data of chunk ``i`` is
``header || part name || i || last`` (last: 1 for the final chunk, else 0).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from coursectl.errors import BackupCorrupt

MAGIC = b"CCBK\x01"
HEADER_LEN = len(MAGIC) + 4
TAG_LEN = 16
MIN_CHUNK = 1024
MAX_CHUNK = 64 * 1024 * 1024


def header(chunk_size: int) -> bytes:
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk size must be between {MIN_CHUNK} and {MAX_CHUNK} bytes")
    return MAGIC + struct.pack(">I", chunk_size)


def _nonce(index: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack(">Q", index)


def _aad(head: bytes, part: str, index: int, last: bool) -> bytes:
    return head + part.encode("utf-8") + struct.pack(">QB", index, 1 if last else 0)


def seal(plain: Iterable[bytes], *, key: bytes, part: str, chunk_size: int) -> Iterator[bytes]:
    """The sealed stream of ``plain`` (any chunking in, header then whole sealed chunks out)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    head = header(chunk_size)
    yield head
    buf = bytearray()
    index = 0
    for piece in plain:
        buf += piece
        # keep at least one byte back: the chunk that ends the stream must be sealed as the last one
        while len(buf) > chunk_size:
            block = bytes(buf[:chunk_size])
            del buf[:chunk_size]
            yield aead.encrypt(_nonce(index), block, _aad(head, part, index, False))
            index += 1
    yield aead.encrypt(_nonce(index), bytes(buf), _aad(head, part, index, True))


class _Exact:
    """Reads exact byte counts from an iterator of arbitrary chunks."""

    def __init__(self, chunks: Iterable[bytes]):
        self._it = iter(chunks)
        self._buf = bytearray()

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def open_sealed(sealed: Iterable[bytes], *, key: bytes, part: str) -> Iterator[bytes]:
    """The plaintext of a sealed stream; BackupCorrupt naming ``part`` and the chunk at the first problem."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(key)
    reader = _Exact(sealed)
    head = reader.read(HEADER_LEN)
    if len(head) < HEADER_LEN or not head.startswith(MAGIC):
        raise BackupCorrupt(
            f"part {part}: not a sealed coursectl backup part (bad header)", details={"part": part}
        )
    (chunk_size,) = struct.unpack(">I", head[len(MAGIC) :])
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise BackupCorrupt(f"part {part}: bad chunk size in the header", details={"part": part})
    block_len = chunk_size + TAG_LEN
    index = 0
    current = reader.read(block_len)
    while True:
        following = reader.read(block_len) if len(current) == block_len else b""
        last = not following
        if len(current) < TAG_LEN:
            raise BackupCorrupt(
                f"part {part}: truncated (chunk {index} is missing or cut short)",
                details={"part": part, "chunk": index},
            )
        try:
            plain = aead.decrypt(_nonce(index), current, _aad(head, part, index, last))
        except InvalidTag:
            what = "truncated, or chunk failed authentication" if last else "failed authentication"
            raise BackupCorrupt(
                f"part {part}: chunk {index} {what} (corrupted, tampered with or cut short)",
                details={"part": part, "chunk": index},
            ) from None
        yield plain
        if last:
            return
        current = following
        index += 1
