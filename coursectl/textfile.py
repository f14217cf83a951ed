"""Read a text file a user points coursectl at: bounded in size, UTF-8 only, never blocking on a pipe.

Configuration files, overlays, ignore files, secret files and report-task files go through ``read_text``;
what is wrong is raised as ``UnreadableText`` (message, line, column) and the caller turns it into its own
error (ConfigError, InputError, ...) naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB

_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


class UnreadableText(Exception):
    """A file is not readable as text: what is wrong, and where (1-based line and column) when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    @property
    def where(self) -> str:
        """``line L, column C`` (or ``""``) for error messages."""
        if self.line is None:
            return ""
        return f"line {self.line}" + (f", column {self.column}" if self.column is not None else "")


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def decode_text(data: bytes) -> str:
    """``data`` as text: UTF-8 (a UTF-8 byte-order mark is dropped); UTF-16/32 and binary data are refused."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise UnreadableText(f"is encoded as {name} (it starts with a byte-order mark): save it as UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _position(data, nul)
        raise UnreadableText(
            "contains NUL bytes: a binary file (or UTF-16 without a byte-order mark), not UTF-8 text",
            line=line,
            column=column,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        raise UnreadableText(
            f"is not valid UTF-8 (byte 0x{data[exc.start]:02x})", line=line, column=column
        ) from None


def check_regular(path: Path) -> os.stat_result:
    """``path``'s status when it is a regular file (symlinks followed); UnreadableText otherwise."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise UnreadableText(f"cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableText("is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableText("is not a regular file (a named pipe, device or socket): give a file")
    return info


def read_bytes(path: Path, *, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refusing anything larger than ``limit`` bytes before reading it.

    A named pipe or device is refused without opening it for reading in a blocking way, so nothing waits for a
    writer that never comes.
    """
    info = check_regular(path)
    if info.st_size > limit:
        raise UnreadableText(f"is {info.st_size:,} bytes; the limit is {limit:,} bytes")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UnreadableText(f"cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced between stat and open
            raise UnreadableText("is not a regular file (a named pipe, device or socket): give a file")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise UnreadableText(f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UnreadableText(f"is larger than the limit of {limit:,} bytes")
    return data


def read_text(path: Path, *, limit: int) -> str:
    """The text of the regular file ``path`` (UTF-8, at most ``limit`` bytes); UnreadableText saying why not."""
    return decode_text(read_bytes(path, limit=limit))
