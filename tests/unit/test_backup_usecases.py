"""The backup use cases over the in-memory store and a static source: what is written, listed, verified,
restored and pruned, and what happens when something breaks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coursectl.api import backup as uc
from coursectl.backup import layout
from coursectl.backup.keys import KeyRing, parse_key
from coursectl.backup.retention import Policy
from coursectl.domain import BackupOutcome
from coursectl.errors import BackupCorrupt, ExternalError, PreconditionError
from coursectl.ledger import SqliteLedger
from coursectl.testing.backup import MemoryStore, StaticSource

KEY = parse_key("ab" * 32, source="env:BACKUP_KEY")
OTHER = parse_key("cd" * 32, source="env:BACKUP_KEY")
PARTS = {"db/course.sql": b"CREATE TABLE t (id int);\n" + b"INSERT INTO t VALUES (1),(2),(3);\n" * 3000,
         "db/payment.sql": b"-- empty\n"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(tmp_path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    store = MemoryStore("mem", clock=clock)
    source = StaticSource("db", PARTS)
    outcomes: list[BackupOutcome] = []
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ring = [KeyRing(KEY)]
    ctx = uc.BackupContext(
        sources={"db": uc.SourceSettings("db", "static", "mem", Policy(last=2))},
        keys=lambda: ring[0], store_factory=lambda name: store, source_factory=lambda name: source,
        ledger=ledger, actor="tester", chunk_size=4096, clock=clock, on_outcome=outcomes.append, grace=3600,
    )
    yield ctx, store, source, outcomes, ledger, ring
    ledger.close()


def _events(ledger: SqliteLedger) -> list[tuple[str | None, str | None]]:
    return [(e.details.get("action"), e.outcome) for e in ledger.events(kinds=["backup"], newest_first=False)]


def test_create_writes_parts_then_the_manifest_and_records_it(world) -> None:  # type: ignore[no-untyped-def]
    ctx, store, _, outcomes, ledger, _ = world
    order: list[str] = []
    put = store.put
    store.put = lambda key, chunks: (order.append(key), put(key, chunks))[1]  # type: ignore[method-assign]
    (result,) = uc.create(ctx)
    assert result.ok and result.manifest is not None
    assert order[-1] == layout.manifest_key("db", result.backup_id) and len(order) == 3
    assert [p.name for p in result.manifest.parts] == list(PARTS)
    stored = store.objects[order[0]][0]
    assert b"INSERT INTO" not in stored  # encrypted
    doc = json.loads(store.objects[order[-1]][0])
    assert doc["manifest"]["key_id"] == KEY.key_id and doc["manifest"]["parts"][0]["plain_size"] == len(
        PARTS["db/course.sql"])
    assert _events(ledger) == [("create", "succeeded")]
    assert outcomes[0].action == "create" and outcomes[0].ok and outcomes[0].backup_id == result.backup_id


def test_a_failing_dump_leaves_nothing_listed_and_is_recorded(world) -> None:  # type: ignore[no-untyped-def]
    ctx, store, source, outcomes, ledger, _ = world
    source.fail_in = "db/payment.sql"
    source.parts["db/payment.sql"] = b"x" * 50_000
    (result,) = uc.create(ctx)
    assert not result.ok and isinstance(result.error, ExternalError) and "died" in result.error.message
    assert store.objects == {}  # the first part was removed again
    listing = uc.list_backups(ctx)
    assert listing.backups == [] and listing.leftovers == []
    assert _events(ledger) == [("create", "failed")]
    assert not outcomes[0].ok and outcomes[0].exit_code == 5


def test_a_full_store_is_a_clear_error_and_no_backup(world) -> None:  # type: ignore[no-untyped-def]
    ctx, store, _, _, _, _ = world
    store.fail_after = 1000
    (result,) = uc.create(ctx)
    assert result.error is not None and "no space left" in result.error.message
    assert uc.list_backups(ctx).backups == []


def test_missing_source_or_unreachable_store_writes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    ctx, store, source, _, ledger, _ = world
    source.missing = True
    (result,) = uc.create(ctx)
    assert isinstance(result.error, PreconditionError) and store.objects == {} and not store.uploads
    source.missing = False
    store.reachable = False
    (result,) = uc.create(ctx)
    assert isinstance(result.error, ExternalError)
    with pytest.raises(ExternalError):
        uc.list_backups(ctx)
    assert _events(ledger) == [("create", "failed"), ("create", "failed")]


def test_verify_reads_everything_and_restore_proves_it(world) -> None:  # type: ignore[no-untyped-def]
    ctx, store, source, outcomes, ledger, _ = world
    (made,) = uc.create(ctx)
    (plain,) = uc.verify(ctx, made.backup_id)
    assert plain.ok and not plain.restored and plain.parts == 2
    assert uc.list_backups(ctx).backups[0].status == "unverified"  # read back, but not yet restored
    (proof,) = uc.verify(ctx, latest=True, restore=True)
    assert proof.ok and proof.restored and source.restored == PARTS and source.requests[-1].scratch
    info = uc.list_backups(ctx).backups[0]
    assert info.status == "verified" and info.last_restore is not None
    assert info.last_restore.restore_seconds is not None
    assert [a for a, _ in _events(ledger)] == ["create", "verify", "verify"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_part_fails_verification_naming_it(world, damage: str) -> None:  # type: ignore[no-untyped-def]
    ctx, store, _, outcomes, ledger, _ = world
    (made,) = uc.create(ctx)
    key = made.manifest.parts[1].key
    if damage == "flip":
        store.tamper(key, 30)
    elif damage == "truncate":
        store.truncate(key, 5)
    else:
        store.delete([key])
    (result,) = uc.verify(ctx, f"db/{made.backup_id}")
    assert not result.ok and "part db/payment.sql" in result.problems[0]
    with pytest.raises(BackupCorrupt, match="part db/payment.sql") as info:
        uc.raise_for_problems([result])
    assert info.value.exit_code == 6
    assert uc.list_backups(ctx).backups[0].status == "failed"
    assert _events(ledger)[-1] == ("verify", "failed") and not outcomes[-1].ok


def test_a_changed_manifest_fails_verification(world) -> None:  # type: ignore[no-untyped-def]
    ctx, store, _, _, _, _ = world
    (made,) = uc.create(ctx)
    key = layout.manifest_key("db", made.backup_id)
    doc = json.loads(store.objects[key][0])
    doc["manifest"]["facts"]["files"]["db/payment.sql"]["size"] = 1
    store.objects[key] = (json.dumps(doc).encode(), store.objects[key][1])
    (result,) = uc.verify(ctx, made.backup_id)
    assert not result.ok and "failed authentication" in result.problems[0]


def test_wrong_key_is_exit_4_naming_the_key_id(world) -> None:  # type: ignore[no-untyped-def]
    ctx, _, _, outcomes, ledger, ring = world
    (made,) = uc.create(ctx)
    ring[0] = KeyRing(OTHER)
    ctx._ring = None
    with pytest.raises(PreconditionError, match=f"cannot decrypt: key id {KEY.key_id}") as info:
        uc.verify(ctx, made.backup_id)
    assert info.value.exit_code == 4
    assert _events(ledger)[-1] == ("verify", "failed")
    ring[0] = KeyRing(OTHER, (KEY,))  # the old key listed: readable again
    ctx._ring = None
    assert uc.verify(ctx, made.backup_id)[0].ok


def test_restore_checks_first_and_writes_nothing_from_a_damaged_backup(world) -> None:  # type: ignore[no-untyped-def]
    ctx, store, source, _, ledger, _ = world
    (made,) = uc.create(ctx)
    plan = uc.plan_restore(ctx, made.backup_id, to=["elsewhere"])
    assert plan.target == "memory elsewhere"
    store.tamper(made.manifest.parts[1].key, 40)
    with pytest.raises(BackupCorrupt, match="nothing restored"):
        uc.restore(ctx, plan, to=["elsewhere"])
    assert source.restored == {} and _events(ledger)[-1] == ("restore", "failed")


def test_restore_reports_what_it_compared(world) -> None:  # type: ignore[no-untyped-def]
    ctx, _, source, _, ledger, _ = world
    (made,) = uc.create(ctx)
    plan = uc.plan_restore(ctx, made.backup_id, to=["x"])
    report = uc.restore(ctx, plan, to=["x"])
    assert report.ok and source.restored == PARTS and "2 files: size and SHA-256" in report.checked
    assert _events(ledger)[-1] == ("restore", "succeeded")


def test_an_interrupted_backup_is_a_leftover_and_prune_removes_it_after_the_grace(world, clock) -> None:  # type: ignore[no-untyped-def]
    ctx, store, _, _, _, _ = world
    left = layout.folder("db", layout.new_backup_id(clock(), "0badc0de"))
    store.put(left + "parts/000-x.enc", [b"partial"])
    store.start_upload(left + "parts/001-y.enc")
    listing = uc.list_backups(ctx)
    assert listing.backups == [] and {x.what for x in listing.leftovers} == {"folder without a manifest",
                                                                              "upload never completed"}
    with pytest.raises(PreconditionError, match="interrupted backup, not a backup"):
        uc.verify(ctx, "20261130T030000Z-0badc0de")
    report = uc.prune(ctx)  # within the grace period: it may still be running
    assert report.sources[0].leftovers == [] and store.objects
    clock.advance(hours=2)
    assert len(uc.prune(ctx, dry_run=True).sources[0].leftovers) == 2 and store.objects
    uc.prune(ctx)
    assert store.objects == {} and store.uploads == {}


def test_prune_keeps_the_newest_verified_backup_and_says_why(world, clock) -> None:  # type: ignore[no-untyped-def]
    ctx, store, _, outcomes, ledger, _ = world
    ids = []
    for _ in range(4):
        ids.append(uc.create(ctx)[0].backup_id)
        clock.advance(days=1)
    uc.verify(ctx, ids[0], restore=True)  # only the oldest is proven by a restore
    dry = uc.prune(ctx, dry_run=True)
    kept = {b.backup_id: reasons for b, reasons in dry.sources[0].keep}
    assert kept == {ids[3]: ("last backup",), ids[2]: ("last backup",),
                    ids[0]: ("newest verified backup (never removed)",)}
    assert [b.backup_id for b in dry.sources[0].remove] == [ids[1]]
    assert len(uc.list_backups(ctx).backups) == 4  # dry run: nothing changed
    uc.prune(ctx)
    assert sorted(b.backup_id for b in uc.list_backups(ctx).backups) == sorted([ids[0], ids[2], ids[3]])
    assert not any(k.startswith(layout.folder("db", ids[1])) for k in store.objects)
    assert _events(ledger)[-1] == ("prune", "succeeded") and outcomes[-1].action == "prune"


def test_a_failing_outcome_hook_does_not_fail_the_backup(world) -> None:  # type: ignore[no-untyped-def]
    ctx, _, _, _, ledger, _ = world

    def broken(outcome: BackupOutcome) -> None:
        raise RuntimeError("slack is down")

    ctx.on_outcome = broken
    assert uc.create(ctx)[0].ok and _events(ledger) == [("create", "succeeded")]


def test_a_lock_left_by_a_dead_process_is_taken_over(world) -> None:  # type: ignore[no-untyped-def]
    ctx, _, _, _, ledger, _ = world
    ledger.acquire_lock("backup", "db", holder="ghost", reason="backup create db pid=999999999 host="
                        + __import__("socket").gethostname(), ttl=600)
    assert uc.create(ctx)[0].ok
    assert ledger.lock_info("backup", "db") is None


def test_a_create_while_another_runs_is_exit_8_naming_the_holder(world) -> None:  # type: ignore[no-untyped-def]
    import os
    import socket

    ctx, store, _, _, ledger, _ = world
    ledger.acquire_lock("backup", "db", holder="jenkins:nightly-7", ttl=600,
                        reason=f"backup create db pid={os.getpid()} host={socket.gethostname()}")
    (result,) = uc.create(ctx)
    assert result.error is not None and result.error.exit_code == 8
    assert "jenkins:nightly-7" in result.error.message and store.objects == {}
