"""A backup store in a local directory: objects are files under it, written to a hidden temporary file, synced
and renamed into place, so a crash or a full disk never leaves a truncated object under its real name."""

from __future__ import annotations

import builtins
import errno
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from coursectl.domain import StoredObject
from coursectl.errors import ExternalError, PreconditionError

PARTIAL = ".partial-"
READ_SIZE = 1024 * 1024
_SPACE = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system or the process's file size limit",
}


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


class LocalStore:
    """Backups under ``root`` (which must exist: a missing mount point is an error, never created silently)."""

    def __init__(self, name: str, root: Path):
        self.name = name
        self.root = root

    def location(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if (
            not key
            or key.startswith("/")
            or any(p in ("", ".", "..") for p in parts[:-1])
            or parts[-1] in (".", "..")
        ):
            raise ValueError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def check(self) -> None:
        if not self.root.is_dir():
            raise PreconditionError(
                f"local store {self.name}: {self.root} does not exist (or is not a directory)",
                hint=f"create it (mkdir -p {self.root}) or mount the backup disk there",
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PreconditionError(f"local store {self.name}: {self.root} is not writable by this user")

    def _failed(self, exc: OSError, key: str) -> ExternalError:
        reason = _SPACE.get(exc.errno or 0) or exc.strerror or str(exc)
        return ExternalError(
            f"local store {self.name}: cannot write {key} under {self.root}: {reason}",
            hint="free space on the backup disk (or let prune remove old backups), then run create again",
            details={"store": self.name, "key": key, "errno": exc.errno},
        )

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._failed(exc, key) from exc
        tmp = path.with_name(f"{PARTIAL}{path.name}-{secrets.token_hex(4)}")
        written = 0
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                        written += n
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise self._failed(exc, key) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return written

    def open(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fh = open(path, "rb")
        except FileNotFoundError as exc:
            raise PreconditionError(f"local store {self.name}: {key} does not exist") from exc
        except OSError as exc:
            raise ExternalError(f"local store {self.name}: cannot read {key}: {exc.strerror}") from exc
        return self._read(fh, key)

    def _read(self, fh: object, key: str) -> Iterator[bytes]:
        import io

        assert isinstance(fh, io.BufferedReader)
        with fh:
            while True:
                try:
                    block = fh.read(READ_SIZE)
                except OSError as exc:
                    raise ExternalError(f"local store {self.name}: cannot read {key}: {exc.strerror}") from exc
                if not block:
                    return
                yield block

    def _walk(self, prefix: str, partial: bool) -> builtins.list[StoredObject]:
        if not self.root.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.startswith(PARTIAL) != partial:
                    continue
                path = Path(dirpath) / filename
                key = path.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # removed meanwhile
                    continue
                found.append(
                    StoredObject(
                        key=key,
                        size=stat.st_size,
                        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                        upload_id=filename if partial else None,
                    )
                )
        return sorted(found, key=lambda o: o.key)

    def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        return self._walk(prefix, partial=False)

    def pending(self, prefix: str = "") -> builtins.list[StoredObject]:
        return self._walk(prefix, partial=True)

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise ExternalError(f"local store {self.name}: cannot remove {key}: {exc.strerror}") from exc
            self._prune_dirs(path.parent)

    def discard(self, upload: StoredObject) -> None:
        path = self._path(upload.key)
        path.unlink(missing_ok=True)
        self._prune_dirs(path.parent)

    def _prune_dirs(self, folder: Path) -> None:
        """Remove folders left empty, up to (not including) the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
