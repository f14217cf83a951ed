"""SQLite backup sources: the ledger, and a docker environment's data folders (the services' SQLite files).

Each database is copied with SQLite's online backup API (a consistent copy while others write to it) into a
private temporary folder, streamed, and deleted; the copy's row counts are what a restore is compared with.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from coursectl.adapters import tarstream
from coursectl.domain import RestoreRequest, RestoreResult, SourcePart
from coursectl.errors import ExternalError, PreconditionError, UsageError

SQLITE_MAGIC = b"SQLite format 3\x00"
COMPANIONS = ("-wal", "-shm", "-journal")
READ_SIZE = 1024 * 1024


def is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def online_copy(source: Path, target: Path) -> None:
    """A consistent copy of the database at ``source`` (SQLite's online backup API)."""
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise ExternalError(f"cannot copy the SQLite database {source}: {exc}") from exc


def figures(path: Path) -> dict[str, Any]:
    """Integrity check and the row count of every table of the database at ``path``."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                    " ORDER BY name"
                )
            ]
            rows = {
                name: int(
                    conn.execute(f'SELECT COUNT(*) FROM "{name.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
                )
                for name in names
            }
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"integrity": f"unreadable: {exc}", "tables": {}}
    return {"integrity": integrity, "tables": rows, "user_version": version}


def _file_chunks(path: Path, cleanup: Path | None = None) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            yield from iter(lambda: fh.read(READ_SIZE), b"")
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def _private_tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="coursectl-backup-"))


def prepare_directory(target: Path, *, force: bool) -> None:
    """A directory to restore into: new or empty, or (with force) anything."""
    if target.exists() and not target.is_dir():
        raise PreconditionError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise PreconditionError(
            f"{target} is not empty: restoring would mix files",
            hint="restore into a new directory, or pass --force to write over it",
        )
    target.mkdir(parents=True, exist_ok=True)


class LedgerSource:
    """coursectl's ledger (a SQLite file)."""

    kind = "ledger"
    PART = "ledger.db"

    def __init__(self, name: str, path: Path, *, live: Sequence[Path] = ()):
        self.name = name
        self.path = path
        self._live = [path, *live]
        self._facts: dict[str, Any] = {}

    def check(self) -> None:
        if not is_sqlite(self.path):
            raise PreconditionError(f"no ledger at {self.path} (backups.sources.{self.name})")

    def dump(self) -> Iterator[SourcePart]:
        tmp = _private_tmp()
        copy = tmp / "ledger.db"
        try:
            online_copy(self.path, copy)
            self._facts = {"ledger": figures(copy)}
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        yield SourcePart(self.PART, _file_chunks(copy, cleanup=tmp), "application/vnd.sqlite3")

    def facts(self) -> dict[str, Any]:
        return self._facts

    def _target(self, request: RestoreRequest) -> Path:
        if request.scratch:
            assert request.workdir is not None
            return request.workdir / "ledger.db"
        if len(request.to) != 1:
            raise UsageError("restore of a ledger needs --to PATH: the file to write (never the live ledger)")
        target = Path(request.to[0]).expanduser().absolute()
        if target.is_dir():
            target = target / "ledger.db"
        for live in self._live:
            if target.resolve() == live.expanduser().absolute().resolve():
                raise UsageError(
                    f"--to {target} is the live ledger: a ledger is only restored to another path",
                    hint="restore to another file, stop coursectl, and move it into place yourself",
                )
        return target

    def describe_target(self, request: RestoreRequest, facts: Mapping[str, Any]) -> str:
        target = self._target(request)
        return f"ledger file {target}" + (" (exists)" if target.exists() else "")

    def restore(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        parts: Sequence[str],
        facts: Mapping[str, Any],
        request: RestoreRequest,
    ) -> RestoreResult:
        import time

        target = self._target(request)
        if target.exists() and not (request.force or request.scratch):
            raise PreconditionError(f"{target} exists", hint="choose another path, or pass --force to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        tmp = target.with_name(f".{target.name}.restoring")
        try:
            with open(tmp, "wb") as fh:
                for chunk in open_part(self.PART):
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            for suffix in COMPANIONS:
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            os.replace(tmp, target)
        except OSError as exc:
            raise ExternalError(f"cannot write {target}: {exc.strerror}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return RestoreResult(
            where=str(target), seconds=time.monotonic() - began, observed={"ledger": figures(target)}
        )


class DataFolderSource:
    """The data folders of a docker environment: ``<data>/<service>/*.db`` and whatever else lives there."""

    kind = "docker-data"
    PART = "data.tar"

    def __init__(self, name: str, path: Path):
        self.name = name
        self.path = path
        self._facts: dict[str, Any] = {}

    def check(self) -> None:
        if not self.path.is_dir():
            raise PreconditionError(
                f"no data folder at {self.path} (backups.sources.{self.name}): the environment"
                " has not run any service yet"
            )

    def _files(self) -> list[Path]:
        found = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames.sort()
            for filename in sorted(filenames):
                found.append(Path(dirpath) / filename)
        databases = {p for p in found if is_sqlite(p)}
        companions = {Path(f"{db}{suffix}") for db in databases for suffix in COMPANIONS}
        return [p for p in found if p not in companions]

    def dump(self) -> Iterator[SourcePart]:
        self._facts = {"files": {}, "sqlite": {}}
        yield SourcePart(self.PART, self._tar(), "application/x-tar")

    def _tar(self) -> Iterator[bytes]:
        tmp = _private_tmp()
        try:
            members: list[tarstream.Member] = []
            for path in self._files():
                name = path.relative_to(self.path).as_posix()
                if is_sqlite(path):
                    copy = tmp / f"{len(members)}.db"
                    online_copy(path, copy)
                    self._facts["sqlite"][name] = figures(copy)
                    members.append(tarstream.Member(name, path=copy, mode=0o600, mtime=path.stat().st_mtime))
                else:
                    members.append(tarstream.Member(name, path=path, mode=path.stat().st_mode & 0o777))
            yield from tarstream.stream(members, self._facts["files"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def facts(self) -> dict[str, Any]:
        return self._facts

    def _target(self, request: RestoreRequest) -> Path:
        if request.scratch:
            assert request.workdir is not None
            return request.workdir / "data"
        if len(request.to) != 1:
            raise UsageError("restore of data folders needs --to DIR: a directory to unpack them into")
        target = Path(request.to[0]).expanduser().absolute()
        if target.resolve() == self.path.expanduser().absolute().resolve():
            raise UsageError(
                f"--to {target} is the live data folder: restore elsewhere, stop the services, then"
                " move the files into place"
            )
        return target

    def describe_target(self, request: RestoreRequest, facts: Mapping[str, Any]) -> str:
        return f"directory {self._target(request)}"

    def restore(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        parts: Sequence[str],
        facts: Mapping[str, Any],
        request: RestoreRequest,
    ) -> RestoreResult:
        import time

        target = self._target(request)
        prepare_directory(target, force=request.force)
        began = time.monotonic()
        names = tarstream.extract(open_part(self.PART), target)
        seconds = time.monotonic() - began
        observed = {
            "files": tarstream.digest_tree(target, names),
            "sqlite": {n: figures(target / n) for n in names if is_sqlite(target / n)},
        }
        return RestoreResult(where=str(target), seconds=seconds, observed=observed)
