"""The part pipeline: plaintext → compress (zstd or gzip) → seal (chunks.py) → stored bytes, counting sizes and
SHA-256 on both sides; and back, checking every count and digest against what the manifest lists."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from coursectl.backup import chunks
from coursectl.errors import BackupCorrupt

COMPRESSIONS = ("zstd", "gzip")


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Decompressor(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


def _compressor(kind: str, level: int | None, threads: int) -> _Compressor:
    if kind == "zstd":
        import zstandard

        cctx = zstandard.ZstdCompressor(level=3 if level is None else level, threads=threads, write_checksum=False)
        obj: Any = cctx.compressobj()
        return obj  # type: ignore[no-any-return]
    if kind == "gzip":
        return zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)
    raise ValueError(f"unknown compression {kind!r} (expected one of {', '.join(COMPRESSIONS)})")


def _decompressor(kind: str) -> _Decompressor:
    if kind == "zstd":
        import zstandard

        obj: Any = zstandard.ZstdDecompressor().decompressobj()
        return obj  # type: ignore[no-any-return]
    if kind == "gzip":
        return zlib.decompressobj(31)
    raise ValueError(f"unknown compression {kind!r}")


def _decompress_errors(kind: str) -> tuple[type[Exception], ...]:
    if kind == "zstd":
        import zstandard

        return (zstandard.ZstdError, zlib.error)
    return (zlib.error,)


@dataclass
class Counter:
    """Bytes and SHA-256 of a stream seen so far."""

    size: int = 0

    def __post_init__(self) -> None:
        self._sha = hashlib.sha256()

    def add(self, data: bytes) -> bytes:
        self.size += len(data)
        self._sha.update(data)
        return data

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class Encoder:
    """Iterate it to get the stored bytes of ``plain``; afterwards ``plain``/``stored`` hold sizes and digests."""

    def __init__(
        self,
        plain: Iterable[bytes],
        *,
        key: bytes,
        part: str,
        compression: str = "zstd",
        chunk_size: int = 1024 * 1024,
        level: int | None = None,
        threads: int = 0,
    ):
        self._plain_in = plain
        self._key = key
        self._part = part
        self._compression = compression
        self._chunk_size = chunk_size
        self._level = level
        self._threads = threads
        self.plain = Counter()
        self.stored = Counter()
        self.chunks = 0
        self.done = False

    def _compressed(self) -> Iterator[bytes]:
        comp = _compressor(self._compression, self._level, self._threads)
        for piece in self._plain_in:
            if not piece:
                continue
            self.plain.add(piece)
            out = comp.compress(piece)
            if out:
                yield out
        tail = comp.flush()
        if tail:
            yield tail

    def __iter__(self) -> Iterator[bytes]:
        for block in chunks.seal(self._compressed(), key=self._key, part=self._part, chunk_size=self._chunk_size):
            self.chunks += 1
            yield self.stored.add(block)
        self.chunks -= 1  # the header is not a chunk
        self.done = True


@dataclass(frozen=True)
class Expected:
    """What the manifest says about one part."""

    part: str
    compression: str
    plain_size: int
    plain_sha256: str
    stored_size: int
    stored_sha256: str


def decode(stored: Iterable[bytes], *, key: bytes, expected: Expected) -> Iterator[bytes]:
    """The plaintext of a stored part. Every chunk is authenticated as it is read; at the end the stored and
    plaintext sizes and SHA-256 digests are compared with ``expected``. Raises BackupCorrupt naming the part."""
    part = expected.part
    stored_count = Counter()
    plain_count = Counter()

    def counted() -> Iterator[bytes]:
        for block in stored:
            yield stored_count.add(block)

    decomp = _decompressor(expected.compression)
    try:
        for compressed in chunks.open_sealed(counted(), key=key, part=part):
            out = decomp.decompress(compressed)
            if out:
                yield plain_count.add(out)
    except _decompress_errors(expected.compression) as exc:
        raise BackupCorrupt(f"part {part}: cannot be decompressed: {exc}", details={"part": part}) from exc
    eof = bool(getattr(decomp, "eof", True))
    problems = []
    if not eof:
        problems.append("the compressed stream ends early")
    if stored_count.size != expected.stored_size:
        problems.append(f"stored size {stored_count.size} bytes, the manifest says {expected.stored_size}")
    elif stored_count.sha256 != expected.stored_sha256:
        problems.append("stored SHA-256 differs from the manifest")
    if plain_count.size != expected.plain_size:
        problems.append(f"plaintext size {plain_count.size} bytes, the manifest says {expected.plain_size}")
    elif plain_count.sha256 != expected.plain_sha256:
        problems.append("plaintext SHA-256 differs from the manifest")
    if problems:
        raise BackupCorrupt(f"part {part}: {'; '.join(problems)}", details={"part": part, "problems": problems})
