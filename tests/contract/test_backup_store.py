"""The BackupStore contract, run against every implementation: the in-memory fake, the local directory and S3
(a real moto server on 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coursectl.adapters.backup_store_local import LocalStore
from coursectl.adapters.backup_store_s3 import S3Store
from coursectl.domain import StoredObject
from coursectl.errors import ExternalError, PreconditionError
from coursectl.ports import BackupStore
from coursectl.testing.backup import MemoryStore

MiB = 1024 * 1024


class Kit:
    """A store under test, and how to leave an upload half-done in it (what a kill -9 leaves)."""

    def __init__(self, store: Any, leave_pending: Callable[[str], None]):
        self.store = store
        self.leave_pending = leave_pending


def _memory(tmp_path: Path, request: pytest.FixtureRequest) -> Kit:
    store = MemoryStore("mem")
    return Kit(store, store.start_upload)


def _local(tmp_path: Path, request: pytest.FixtureRequest) -> Kit:
    root = tmp_path / "store"
    root.mkdir()
    store = LocalStore("disk", root)

    def leave(key: str) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / f".partial-{path.name}-deadbeef").write_bytes(b"half")

    return Kit(store, leave)


def _s3(tmp_path: Path, request: pytest.FixtureRequest) -> Kit:
    endpoint = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")()
    store = S3Store("s3", bucket=bucket, prefix="backups", endpoint_url=endpoint.url, region=endpoint.region,
                    access_key_id=endpoint.access_key, secret_access_key=endpoint.secret_key, part_size=5 * MiB)

    def leave(key: str) -> None:
        endpoint.client().create_multipart_upload(Bucket=bucket, Key=f"backups/{key}")

    return Kit(store, leave)


KITS = {"memory": _memory, "local": _local, "s3": _s3}


@pytest.fixture(params=[pytest.param("memory"), pytest.param("local"),
                        pytest.param("s3", marks=pytest.mark.integration)])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    yield KITS[request.param](tmp_path, request)


def _read(store: Any, key: str) -> bytes:
    return b"".join(store.open(key))


def test_is_a_backup_store(kit: Kit) -> None:
    assert isinstance(kit.store, BackupStore)
    kit.store.check()
    assert kit.store.location()


def test_put_open_list_delete(kit: Kit) -> None:
    store = kit.store
    assert store.put("src/1/parts/000-a.enc", [b"hello ", b"world"]) == 11
    assert store.put("src/1/manifest.json", iter([b"{}"])) == 2
    assert store.put("src/2/manifest.json", []) == 0
    assert store.put("other/x", [b"x"]) == 1
    assert _read(store, "src/1/parts/000-a.enc") == b"hello world"
    assert _read(store, "src/2/manifest.json") == b""
    listed = store.list("src/")
    assert [o.key for o in listed] == ["src/1/manifest.json", "src/1/parts/000-a.enc", "src/2/manifest.json"]
    assert [o.size for o in listed] == [2, 11, 0]
    assert all(isinstance(o, StoredObject) and o.modified.tzinfo is not None for o in listed)
    assert [o.key for o in store.list()] == ["other/x", *[o.key for o in listed]]
    store.put("src/1/manifest.json", [b"{replaced}"])
    assert _read(store, "src/1/manifest.json") == b"{replaced}"
    store.delete(["src/1/manifest.json", "src/1/parts/000-a.enc", "never/was"])
    assert [o.key for o in store.list("src/")] == ["src/2/manifest.json"]


def test_open_of_a_missing_object_is_a_precondition(kit: Kit) -> None:
    with pytest.raises(PreconditionError):
        _read(kit.store, "src/none/manifest.json")


def test_an_interrupted_put_leaves_no_object_and_no_pending_upload(kit: Kit) -> None:
    def dying() -> Iterator[bytes]:
        yield os.urandom(6 * MiB)  # more than one S3 part: a multipart upload is under way
        yield os.urandom(1 * MiB)
        raise ExternalError("the dump died")

    with pytest.raises(ExternalError, match="the dump died"):
        kit.store.put("src/3/parts/000-a.enc", dying())
    assert kit.store.list("src/") == []
    assert kit.store.pending("src/") == []


def test_large_objects_arrive_whole(kit: Kit) -> None:
    data = os.urandom(11 * MiB + 123)
    pieces = (data[i: i + 777_777] for i in range(0, len(data), 777_777))
    assert kit.store.put("src/4/parts/000-big.enc", pieces) == len(data)
    assert _read(kit.store, "src/4/parts/000-big.enc") == data
    assert kit.store.list("src/4/")[0].size == len(data)


def test_pending_uploads_are_listed_apart_and_can_be_discarded(kit: Kit) -> None:
    kit.store.put("src/5/parts/000-a.enc", [b"done"])
    kit.leave_pending("src/6/parts/000-a.enc")
    assert [o.key for o in kit.store.list("src/")] == ["src/5/parts/000-a.enc"]
    (pending,) = kit.store.pending("src/")
    assert pending.key.startswith("src/6/parts/") and pending.upload_id
    kit.store.discard(pending)
    assert kit.store.pending("src/") == []
    assert [o.key for o in kit.store.list("src/")] == ["src/5/parts/000-a.enc"]


# what only a real store can show ------------------------------------------------------------------------------


def test_local_store_refuses_a_missing_directory_and_bad_keys(tmp_path: Path) -> None:
    store = LocalStore("disk", tmp_path / "not-mounted")
    with pytest.raises(PreconditionError, match="does not exist") as info:
        store.check()
    assert info.value.exit_code == 4
    ok = LocalStore("disk", tmp_path)
    for bad in ("../escape", "/abs", "a/../../b", ""):
        with pytest.raises(ValueError):
            ok.put(bad, [b"x"])


@pytest.mark.integration
def test_s3_missing_bucket_is_exit_4_and_unreachable_is_exit_5(s3_server: Any) -> None:
    missing = S3Store("s3", bucket="no-such-bucket-here", endpoint_url=s3_server.url, region=s3_server.region,
                      access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key)
    with pytest.raises(PreconditionError, match="bucket no-such-bucket-here does not exist") as info:
        missing.check()
    assert info.value.exit_code == 4
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = S3Store("s3", bucket="b", endpoint_url=f"http://127.0.0.1:{closed}", access_key_id="a",
                   secret_access_key="s3cr3t-value", timeout=2)
    for call in (down.check, lambda: down.list("x/")):
        with pytest.raises(ExternalError, match="unreachable") as err:
            call()
        assert err.value.exit_code == 5 and "s3cr3t-value" not in err.value.message


@pytest.mark.integration
def test_s3_multipart_is_used_for_large_objects(s3_server: Any, s3_bucket: Callable[[], str]) -> None:
    bucket = s3_bucket()
    store = S3Store("s3", bucket=bucket, endpoint_url=s3_server.url, region=s3_server.region,
                    access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key, part_size=5 * MiB)
    store.put("big", [os.urandom(12 * MiB)])
    head = s3_server.client().head_object(Bucket=bucket, Key="big")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    store.put("small", [b"x" * 100])
    assert "-" not in s3_server.client().head_object(Bucket=bucket, Key="small")["ETag"]
