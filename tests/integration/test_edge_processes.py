"""The real HAProxy edge in front of local processes: zero failed requests through switches and rollback."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.adapters.haproxy import HAProxyEdge
from coursectl.adapters.process_target import ProcessTarget
from coursectl.ledger import SqliteLedger
from coursectl.rollout.engine import Engine, EngineSettings
from coursectl.rollout.plan import plan_rollout, plan_warm_switch
from coursectl.rollout.state import ABORTED, SUCCEEDED
from coursectl.rollout.store import RolloutStore
from coursectl.testing.load import LoadGenerator

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]


class RealClock:
    def now(self):  # type: ignore[no-untyped-def]
        from coursectl.domain import utcnow

        return utcnow()

    def monotonic(self) -> float:
        import time

        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[HAProxyEdge, ProcessTarget, SqliteLedger]]:
    base = 20000 + (_free_port() % 5000)
    target = ProcessTarget(tmp_path / "slots", {"course": base})
    edge = HAProxyEdge(
        tmp_path / "edge",
        services={"course": "/health/ready"},
        bind=f"127.0.0.1:{_free_port()}",
        stats_bind=f"127.0.0.1:{_free_port()}",
        rate_limit_requests=1_000_000,
    )
    edge.ensure_running()
    ledger = SqliteLedger(tmp_path / "ledger.db")
    yield edge, target, ledger
    edge.stop()
    target.stop_all()
    ledger.close()


def _deploy(edge: HAProxyEdge, target: ProcessTarget, ledger: SqliteLedger, version: str, **kw: object):  # type: ignore[no-untyped-def]
    running = {s.slot: s for s in target.slots("course")}
    state = plan_rollout(
        environment="local",
        service="course",
        version=version,
        strategy="blue-green",
        weights=edge.weights("course"),
        running=running,
        actor="test",
        **kw,
    )  # type: ignore[arg-type]
    store = RolloutStore(ledger)
    store.save(state)
    engine = Engine(target=target, router=edge, store=store, clock=RealClock(), settings=EngineSettings())
    return engine.run(state)


def test_blue_green_switch_and_rollback_drop_nothing(rig: tuple[HAProxyEdge, ProcessTarget, SqliteLedger]) -> None:
    edge, target, ledger = rig
    assert _deploy(edge, target, ledger, "v1").phase == SUCCEEDED
    load = LoadGenerator(f"{edge.url}/api/course/courses", connections=8, max_requests=50_000).start()
    load.wait_total(2000)
    assert _deploy(edge, target, ledger, "v2", scale_down_delay=3.0).phase != ABORTED
    load.wait_total(load.result.total + 500)
    # rollback to a warm colour: deploy v3 with a long delay is not needed; start v1 again beside v2 and switch
    state = plan_rollout(
        environment="local",
        service="course",
        version="v1",
        strategy="blue-green",
        weights=edge.weights("course"),
        running={s.slot: s for s in target.slots("course")},
        kind="rollback",
        analyze=False,
    )
    store = RolloutStore(ledger)
    store.save(state)
    Engine(target=target, router=edge, store=store, clock=RealClock()).run(state)
    load.wait_total(load.result.total + 2000)
    result = load.stop()
    assert result.total >= 5000
    assert result.failed == 0, result.statuses
    assert set(result.versions) == {"v1", "v2"}
    assert edge.weights("course") in ({"blue": 100}, {"green": 100})
    assert plan_warm_switch  # imported for the CLI's warm-colour path
