"""Where a backup's objects live in a store: ``<source>/<time>-<id>/`` holding ``parts/…``, then
``manifest.json`` (written last), and ``verifications/<time>.json``; and how a listing is grouped back into
backups and leftovers (folders without a manifest)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coursectl.domain import StoredObject

MANIFEST = "manifest.json"
_ID = re.compile(r"^(\d{8}T\d{6}Z)-([0-9a-f]{8})$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_backup_id(now: datetime, token: str | None = None) -> str:
    """``20261130T061500Z-1a2b3c4d``: sortable by time, unique by the random tail."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{token or secrets.token_hex(4)}"


def is_backup_id(text: str) -> bool:
    return bool(_ID.match(text))


def id_time(backup_id: str) -> datetime | None:
    match = _ID.match(backup_id)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def folder(source: str, backup_id: str) -> str:
    return f"{source}/{backup_id}/"


def part_key(source: str, backup_id: str, index: int, name: str) -> str:
    """The object key of a part: its position and a file-safe form of its name."""
    safe = _SAFE.sub("_", name).strip("_") or "part"
    return f"{folder(source, backup_id)}parts/{index:03d}-{safe}.enc"


def manifest_key(source: str, backup_id: str) -> str:
    return folder(source, backup_id) + MANIFEST


def verification_key(source: str, backup_id: str, when: datetime) -> str:
    return f"{folder(source, backup_id)}verifications/{when.astimezone(UTC):%Y%m%dT%H%M%S%fZ}.json"


@dataclass
class Folder:
    """The objects of one ``<source>/<id>/`` folder."""

    source: str
    backup_id: str
    objects: list[StoredObject] = field(default_factory=list)

    @property
    def manifest(self) -> StoredObject | None:
        for obj in self.objects:
            if obj.key == manifest_key(self.source, self.backup_id):
                return obj
        return None

    @property
    def verifications(self) -> list[StoredObject]:
        prefix = folder(self.source, self.backup_id) + "verifications/"
        return sorted((o for o in self.objects if o.key.startswith(prefix)), key=lambda o: o.key)

    @property
    def size(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def last_modified(self) -> datetime:
        return max(o.modified for o in self.objects)


def group(objects: Iterable[StoredObject], source: str) -> dict[str, Folder]:
    """The folders of ``source`` by backup id (objects outside ``<source>/<id>/`` are ignored)."""
    folders: dict[str, Folder] = {}
    prefix = f"{source}/"
    for obj in objects:
        if not obj.key.startswith(prefix):
            continue
        backup_id, sep, _ = obj.key[len(prefix) :].partition("/")
        if not sep or not is_backup_id(backup_id):
            continue
        folders.setdefault(backup_id, Folder(source, backup_id)).objects.append(obj)
    return folders
