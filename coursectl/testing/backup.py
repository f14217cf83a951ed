"""Fakes of the backup ports for use-case and contract tests: a store in memory and a source made of bytes."""

from __future__ import annotations

import builtins
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from coursectl.domain import RestoreRequest, RestoreResult, SourcePart, StoredObject
from coursectl.errors import ExternalError, PreconditionError


class MemoryStore:
    """A BackupStore in a dict. ``clock`` stamps objects; ``fail_after`` bytes makes puts fail (a full disk)."""

    def __init__(self, name: str = "memory", *, clock: Callable[[], datetime] | None = None):
        self.name = name
        self.objects: dict[str, tuple[bytes, datetime]] = {}
        self.uploads: dict[str, tuple[str, datetime]] = {}
        self.clock = clock or (lambda: datetime.now(UTC))
        self.fail_after: int | None = None
        self.reachable = True

    def location(self) -> str:
        return f"memory:{self.name}"

    def _up(self) -> None:
        if not self.reachable:
            raise ExternalError(f"store {self.name} is unreachable")

    def check(self) -> None:
        self._up()

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        self._up()
        upload = f"upload-{len(self.uploads) + len(self.objects)}"
        self.uploads[upload] = (key, self.clock())
        buf = bytearray()
        try:
            for chunk in chunks:
                buf += chunk
                if self.fail_after is not None and len(buf) > self.fail_after:
                    raise ExternalError(f"store {self.name}: no space left writing {key}")
        finally:  # like the real stores: an upload that fails is cleaned up (only a crash leaves one)
            del self.uploads[upload]
        self.objects[key] = (bytes(buf), self.clock())
        return len(buf)

    def open(self, key: str) -> Iterator[bytes]:
        self._up()
        if key not in self.objects:
            raise PreconditionError(f"store {self.name}: {key} does not exist")
        data = self.objects[key][0]
        return iter([data[i : i + 65536] for i in range(0, len(data), 65536)] or [b""])

    def list(self, prefix: str = "") -> builtins.list[StoredObject]:
        self._up()
        return [StoredObject(k, len(v[0]), v[1]) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]

    def delete(self, keys: Sequence[str]) -> None:
        self._up()
        for key in keys:
            self.objects.pop(key, None)

    def pending(self, prefix: str = "") -> builtins.list[StoredObject]:
        return sorted(
            (StoredObject(k, 0, t, upload_id=u) for u, (k, t) in self.uploads.items() if k.startswith(prefix)),
            key=lambda o: o.key,
        )

    def discard(self, upload: StoredObject) -> None:
        self.uploads.pop(upload.upload_id or "", None)

    # test helpers --------------------------------------------------------------------------------------------

    def start_upload(self, key: str, when: datetime | None = None) -> None:
        """Leave an upload that never completes (what a kill -9 leaves behind)."""
        self.uploads[f"upload-left-{len(self.uploads)}"] = (key, when or self.clock())

    def tamper(self, key: str, at: int) -> None:
        data, when = self.objects[key]
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        self.objects[key] = (bytes(flipped), when)

    def truncate(self, key: str, by: int) -> None:
        data, when = self.objects[key]
        self.objects[key] = (data[:-by], when)


class StaticSource:
    """A BackupSource whose parts are given bytes; ``restore`` keeps what it read in ``restored``.

    ``fail_in`` names a part whose stream breaks half-way (a dump that dies); ``facts`` are the digests.
    """

    def __init__(
        self,
        name: str,
        parts: Mapping[str, bytes],
        *,
        kind: str = "static",
        fail_in: str | None = None,
        missing: bool = False,
    ):
        self.name = name
        self.kind = kind
        self.parts = dict(parts)
        self.fail_in = fail_in
        self.missing = missing
        self.restored: dict[str, bytes] = {}
        self.requests: list[RestoreRequest] = []

    def check(self) -> None:
        if self.missing:
            raise PreconditionError(f"source {self.name} does not exist")

    def _chunks(self, name: str, data: bytes) -> Iterator[bytes]:
        for i in range(0, len(data), 7000):
            if name == self.fail_in and i >= len(data) // 2:
                raise ExternalError(f"source {self.name}: the dump of {name} died")
            yield data[i : i + 7000]

    def dump(self) -> Iterator[SourcePart]:
        for name, data in self.parts.items():
            yield SourcePart(name, self._chunks(name, data))

    def facts(self) -> dict[str, Any]:
        return {
            "files": {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in self.parts.items()}
        }

    def describe_target(self, request: RestoreRequest, facts: Mapping[str, Any]) -> str:
        return f"memory {','.join(request.to) or 'scratch'}"

    def restore(
        self,
        open_part: Callable[[str], Iterator[bytes]],
        parts: Sequence[str],
        facts: Mapping[str, Any],
        request: RestoreRequest,
    ) -> RestoreResult:
        began = time.monotonic()
        self.requests.append(request)
        for name in parts:
            self.restored[name] = b"".join(open_part(name))
        observed = {
            "files": {
                n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in self.restored.items()
            }
        }
        return RestoreResult("memory", time.monotonic() - began, observed)
