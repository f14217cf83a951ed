"""The Ledger, DeployLock and RolloutStore contracts, run against every implementation: the SQLite ledger in a
file (what every command uses) and in memory (what a dry run reads when no ledger exists yet).

Time is a frozen clock handed to the implementation: lock expiry is tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coursectl.domain import LedgerEvent
from coursectl.errors import LockHeld
from coursectl.ledger import SqliteLedger
from coursectl.ports import DeployLock, Ledger, RolloutLedger, RolloutStore
from coursectl.testing import FrozenClock

T0 = datetime.fromisoformat("2026-11-30T10:00:00+00:00")


def _file(tmp_path: Path, now: Callable[[], datetime]) -> SqliteLedger:
    return SqliteLedger(tmp_path / "ledger.db", now=now)


def _memory(tmp_path: Path, now: Callable[[], datetime]) -> SqliteLedger:
    return SqliteLedger.in_memory(now=now)


IMPLEMENTATIONS = {"sqlite-file": _file, "sqlite-memory": _memory}


class Kit:
    def __init__(self, ledger: RolloutLedger, clock: FrozenClock):
        self.ledger = ledger
        self.clock = clock


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    clock = FrozenClock(T0)
    ledger = IMPLEMENTATIONS[request.param](tmp_path, clock.now)
    yield Kit(ledger, clock)
    ledger.close()


def test_every_implementation_is_each_port(kit: Kit) -> None:
    for port in (Ledger, DeployLock, RolloutStore, RolloutLedger):
        assert isinstance(kit.ledger, port), port.__name__


# Ledger --------------------------------------------------------------------------------------------------------


def _event(kind: str, at: datetime, **kw: Any) -> LedgerEvent:
    fields: dict[str, Any] = dict(actor="alice", environment="prod", service="course", time=at)
    fields.update(kw)
    return LedgerEvent(kind=kind, **fields)


def test_recorded_events_come_back_with_an_id_and_every_field(kit: Kit) -> None:
    recorded = kit.ledger.record(
        _event("build", T0, version="v1", git_commit="abc", outcome="succeeded", details={"digest": "sha256:1"})
    )
    assert recorded.id is not None
    (found,) = kit.ledger.events()
    assert (found.id, found.kind, found.actor, found.environment, found.service) == (
        recorded.id, "build", "alice", "prod", "course",
    )  # fmt: skip
    assert (found.version, found.git_commit, found.outcome, found.details) == (
        "v1", "abc", "succeeded", {"digest": "sha256:1"},
    )  # fmt: skip
    assert found.time == T0


def test_events_are_filtered_by_every_filter_given_and_ordered(kit: Kit) -> None:
    ledger = kit.ledger
    ledger.record(_event("push", T0, version="v1"))
    ledger.record(_event("push", T0 + timedelta(minutes=1), version="v2", service="user"))
    ledger.record(_event("deployment", T0 + timedelta(minutes=2), version="v2", environment="staging"))
    ledger.record(_event("scan", T0 + timedelta(minutes=3), version="v3"))
    assert [e.version for e in ledger.events()] == ["v3", "v2", "v2", "v1"]
    assert [e.version for e in ledger.events(newest_first=False)] == ["v1", "v2", "v2", "v3"]
    assert [e.kind for e in ledger.events(service="course")] == ["scan", "deployment", "push"]
    assert [e.kind for e in ledger.events(environment="staging")] == ["deployment"]
    assert [e.kind for e in ledger.events(kinds=["push", "scan"])] == ["scan", "push", "push"]
    window = ledger.events(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert [e.kind for e in window] == ["deployment", "push"]  # since inclusive, until exclusive
    assert [e.version for e in ledger.events(limit=2)] == ["v3", "v2"]


def test_deployments_and_rollbacks_are_the_rows_dora_reads(kit: Kit) -> None:
    ledger = kit.ledger
    started = (T0 - timedelta(minutes=5)).isoformat()
    deployed = ledger.record(
        _event(
            "deployment", T0, version="v2", git_commit="c2", outcome="succeeded",
            details={"status": "succeeded", "started_at": started, "hotfix": True,
                     "commits": [{"sha": "c1", "committed_at": "2026-11-30T09:00:00Z"},
                                 {"sha": "c2", "committed_at": "2026-11-30T09:30:00Z"}]},
        )
    )  # fmt: skip
    ledger.record(
        _event(
            "rollback", T0 + timedelta(minutes=10), version="v1", outcome="succeeded",
            details={"from_version": "v2", "to_version": "v1", "started_at": T0.isoformat()},
        )
    )  # fmt: skip
    (row,) = ledger.deployment_rows("prod", "course", ["succeeded"])
    assert row[0] == deployed.id and row[1:6] == ("course", "prod", "v2", "c2", "succeeded")
    assert row[6] == pytest.approx(T0.timestamp()) and row[7] == 1
    assert ledger.deployment_rows("staging") == [] and ledger.deployment_rows("prod", statuses=["failed"]) == []
    (back,) = ledger.rollback_rows("prod", "course")
    assert back[1:6] == ("course", "prod", "v2", "v1", "succeeded")
    assert back[6] == pytest.approx((T0 + timedelta(minutes=10)).timestamp())
    assert deployed.id is not None
    commits = ledger.commit_rows([deployed.id])
    assert sorted((sha, when) for _, sha, when in commits) == [
        ("c1", datetime.fromisoformat("2026-11-30T09:00:00+00:00").timestamp()),
        ("c2", datetime.fromisoformat("2026-11-30T09:30:00+00:00").timestamp()),
    ]
    assert ledger.commit_rows([]) == []


# DeployLock ----------------------------------------------------------------------------------------------------


def test_a_held_lock_refuses_others_and_names_its_holder(kit: Kit) -> None:
    locks = kit.ledger
    lock = locks.acquire_lock("prod", "course", holder="alice", reason="deploy course v2", ttl=60)
    assert (lock.holder, lock.reason, lock.expires_at) == ("alice", "deploy course v2", T0 + timedelta(seconds=60))
    held = locks.lock_info("prod", "course")
    assert held is not None and held.token == lock.token
    with pytest.raises(LockHeld, match="alice") as refused:
        locks.acquire_lock("prod", "course", holder="bob", reason="deploy")
    assert refused.value.exit_code == 8
    assert locks.lock_info("prod", "user") is None
    other = locks.acquire_lock("prod", "user", holder="bob", reason="deploy")  # one lock per service
    assert [(x.service, x.holder) for x in locks.locks("prod")] == [("course", "alice"), ("user", "bob")]
    assert locks.locks("staging") == []
    assert locks.release_lock(other) is True


def test_an_expired_lock_is_taken_over_and_the_take_over_recorded(kit: Kit) -> None:
    locks = kit.ledger
    first = locks.acquire_lock("prod", "course", holder="alice", reason="deploy", ttl=30)
    kit.clock.advance(31)
    second = locks.acquire_lock("prod", "course", holder="bob", reason="deploy")
    assert second.token != first.token and locks.lock_info("prod", "course").holder == "bob"  # type: ignore[union-attr]
    assert locks.release_lock(first) is False  # no longer alice's
    kinds = [e.kind for e in kit.ledger.events(kinds=["lock.acquire", "lock.takeover"], newest_first=False)]
    assert kinds == ["lock.acquire", "lock.takeover"]
    takeover = kit.ledger.events(kinds=["lock.takeover"])[0]
    assert takeover.details["previous"]["holder"] == "alice" and takeover.details["previous_expired"] is True


def test_take_over_takes_even_a_live_lock_and_its_holder_learns_it_on_refresh(kit: Kit) -> None:
    locks = kit.ledger
    mine = locks.acquire_lock("prod", "course", holder="alice", reason="deploy", ttl=30)
    kit.clock.advance(20)
    mine = locks.refresh_lock(mine, ttl=30)
    assert mine.expires_at == T0 + timedelta(seconds=50)
    assert locks.lock_info("prod", "course").expires_at == mine.expires_at  # type: ignore[union-attr]
    locks.acquire_lock("prod", "course", holder="rollback", reason="rollback", take_over=True)
    with pytest.raises(LockHeld, match="taken over by rollback"):
        locks.refresh_lock(mine, ttl=30)
    assert locks.release_lock(mine) is False


def test_release_and_force_release(kit: Kit) -> None:
    locks = kit.ledger
    lock = locks.acquire_lock("prod", "course", holder="alice", reason="deploy")
    assert locks.release_lock(lock) is True
    assert locks.lock_info("prod", "course") is None
    assert locks.release_lock(lock) is False
    assert locks.force_release("prod", "course", actor="ops") is None
    locks.acquire_lock("prod", "course", holder="alice", reason="deploy")
    previous = locks.force_release("prod", "course", actor="ops")
    assert previous is not None and previous.holder == "alice"
    assert locks.lock_info("prod", "course") is None
    forced = kit.ledger.events(kinds=["lock.release"])[0]
    assert forced.actor == "ops" and forced.details["forced"] is True


def test_a_handle_for_another_thread_sees_the_same_locks(kit: Kit) -> None:
    locks = kit.ledger
    lock = locks.acquire_lock("prod", "course", holder="alice", reason="deploy", ttl=30)
    other = locks.for_thread()
    try:
        kit.clock.advance(10)
        refreshed = other.refresh_lock(lock, ttl=30)
        assert locks.lock_info("prod", "course").expires_at == refreshed.expires_at  # type: ignore[union-attr]
        with pytest.raises(LockHeld):
            other.acquire_lock("prod", "course", holder="bob", reason="deploy")
    finally:
        if other is not locks:
            other.close()


# RolloutStore --------------------------------------------------------------------------------------------------


def _doc(rollout_id: str, phase: str, started_at: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = dict(id=rollout_id, environment="prod", service="course", phase=phase,
                               started_at=started_at, updated_at=started_at)  # fmt: skip
    doc["steps"] = [{"kind": "promoted"}]
    doc.update(kw)
    return doc


def test_a_saved_rollout_reads_back_as_saved_and_is_replaced_by_the_next_save(kit: Kit) -> None:
    store = kit.ledger
    assert store.load_rollout("r1") is None
    document = _doc(
        "r1", "progressing", "2026-11-30T10:00:00Z", steps=[{"kind": "weight", "weight": 20}], weight=0
    )
    store.save_rollout(document)
    assert store.load_rollout("r1") == document
    store.save_rollout({**document, "phase": "paused", "updated_at": "2026-11-30T10:01:00Z", "weight": 20})
    loaded = store.load_rollout("r1")
    assert loaded is not None and (loaded["phase"], loaded["weight"]) == ("paused", 20)


def test_latest_is_the_newest_started_and_can_be_limited_to_phases(kit: Kit) -> None:
    store = kit.ledger
    assert store.latest_rollout("prod", "course") is None
    store.save_rollout(_doc("old", "succeeded", "2026-11-30T09:00:00Z"))
    store.save_rollout(_doc("mid", "paused", "2026-11-30T09:30:00Z"))
    store.save_rollout(_doc("new", "aborted", "2026-11-30T10:00:00Z"))
    store.save_rollout(_doc("elsewhere", "progressing", "2026-11-30T11:00:00Z", environment="staging"))
    assert store.latest_rollout("prod", "course")["id"] == "new"  # type: ignore[index]
    assert store.latest_rollout("prod", "course", ("progressing", "paused"))["id"] == "mid"  # type: ignore[index]
    assert store.latest_rollout("prod", "course", ("failed",)) is None
    assert store.latest_rollout("prod", "user") is None
    store.save_rollout(_doc("same-time", "progressing", "2026-11-30T10:00:00Z"))
    assert store.latest_rollout("prod", "course")["id"] == "same-time"  # type: ignore[index]  # saved last


def test_a_request_waits_until_taken_and_no_save_loses_it(kit: Kit) -> None:
    store = kit.ledger
    document = _doc("r1", "progressing", "2026-11-30T10:00:00Z")
    store.save_rollout(document)
    assert store.take_request("r1") is None and store.pending_request("r1") is None
    store.post_request("r1", {"do": "pause", "actor": "bob"})
    store.post_request("r1", {"do": "abort", "actor": "carol"})  # the newer request replaces one not yet taken
    store.save_rollout({**document, "updated_at": "2026-11-30T10:00:05Z"})  # the engine saves between steps
    assert store.pending_request("r1") == {"do": "abort", "actor": "carol"}
    assert store.pending_request("r1") == {"do": "abort", "actor": "carol"}  # reading leaves it
    assert store.take_request("r1") == {"do": "abort", "actor": "carol"}
    assert store.take_request("r1") is None and store.pending_request("r1") is None
    store.post_request("nope", {"do": "pause", "actor": "bob"})  # no such rollout: nothing to hand it to
    assert store.pending_request("nope") is None
