"""Tar archives as streams: build one member by member as chunks (never a whole archive in memory or on disk),
recording each file's size and SHA-256; and unpack one from chunks (tarfile's "data" filter: no absolute paths,
no links out of the target, no devices)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCK = 512
READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Member:
    """One file of an archive: from a path on disk, or bytes made on the fly."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    mode: int = 0o644
    mtime: float | None = None


def stream(members: Iterable[Member], digests: dict[str, Any]) -> Iterator[bytes]:
    """The tar archive of ``members`` as chunks; ``digests[name]`` gets each file's size and SHA-256."""
    for member in members:
        if member.data is not None:
            size = len(member.data)
            mtime = member.mtime if member.mtime is not None else time.time()
        else:
            assert member.path is not None
            stat = member.path.stat()
            size, mtime = stat.st_size, member.mtime if member.mtime is not None else stat.st_mtime
        info = tarfile.TarInfo(member.name)
        info.size, info.mtime, info.mode = size, int(mtime), member.mode
        yield info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")
        sha = hashlib.sha256()
        if member.data is not None:
            sha.update(member.data)
            yield member.data
        else:
            assert member.path is not None
            left = size
            with open(member.path, "rb") as fh:
                while left > 0:
                    block = fh.read(min(READ_SIZE, left))
                    if not block:  # the file shrank while we read it: keep the header's promise
                        block = b"\0" * left
                    block = block[:left]
                    left -= len(block)
                    sha.update(block)
                    yield block
        if size % BLOCK:
            yield b"\0" * (BLOCK - size % BLOCK)
        digests[member.name] = {"size": size, "sha256": sha.hexdigest()}
    yield b"\0" * (2 * BLOCK)


class ChunkReader(io.RawIOBase):
    """A readable binary file over an iterator of chunks."""

    def __init__(self, chunks: Iterable[bytes]):
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def drain(self) -> None:
        """Read the rest, so the producer's end-of-stream checks run."""
        for _ in self._it:
            pass


def extract(chunks: Iterable[bytes], target: Path) -> list[str]:
    """Unpack the archive in ``chunks`` under ``target``; returns the member names."""
    reader = ChunkReader(chunks)
    names = []
    with tarfile.open(fileobj=io.BufferedReader(reader, READ_SIZE), mode="r|") as archive:
        for member in archive:
            archive.extract(member, target, filter="data")
            names.append(member.name)
    reader.drain()
    return names


def digest_tree(root: Path, names: Iterable[str]) -> dict[str, Any]:
    """Size and SHA-256 of each named file under ``root`` (as ``stream`` records them)."""
    out: dict[str, Any] = {}
    for name in names:
        path = root / name
        if not path.is_file():
            continue
        sha = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(READ_SIZE), b""):
                sha.update(block)
        out[name] = {"size": os.path.getsize(path), "sha256": sha.hexdigest()}
    return out
