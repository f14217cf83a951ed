"""The docker target on the sandbox engine: containers per slot on the host network behind the HAProxy edge,
a blue-green switch under load with zero failed requests, labels, and Prometheus file_sd targets."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coursectl.adapters.docker_target import DockerTarget
from coursectl.adapters.haproxy import HAProxyEdge
from coursectl.ledger import SqliteLedger
from coursectl.rollout.engine import Engine, EngineSettings
from coursectl.rollout.plan import plan_rollout
from coursectl.rollout.state import SUCCEEDED
from coursectl.rollout.store import RolloutStore
from coursectl.testing.drill import free_base, free_port
from coursectl.testing.load import LoadGenerator
from coursectl.wiring import SystemClock

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]

TINY = Path(__file__).resolve().parents[2] / "coursectl" / "tinyservice.py"


def _build(client: Any, base: str, version: str) -> str:
    dockerfile = (
        f"FROM {base}\nCOPY tinyservice.py /app/tinyservice.py\nENV VERSION={version} SERVICE=course\n"
        'CMD ["python3", "/app/tinyservice.py"]\n'
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile.encode()), ("tinyservice.py", TINY.read_bytes())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tag = f"coursectl-test/course:{version}"
    client.images.build(fileobj=buf, custom_context=True, tag=tag, network_mode="host", rm=True)
    return tag


@pytest.fixture
def rig(sandbox: Any, docker_client: Any, tmp_path: Path) -> Iterator[tuple[DockerTarget, HAProxyEdge, Any]]:
    base = free_base()
    target = DockerTarget(
        environment="itest",
        ports={"course": base},
        docker_host=sandbox.docker_host(),
        file_sd_dir=tmp_path / "file_sd",
        stop_timeout=2,
        name_prefix="itest-",  # never touch the containers of a real environment on the same engine
    )
    edge = HAProxyEdge(
        tmp_path / "edge",
        services={"course": "/health/ready"},
        bind=f"127.0.0.1:{free_port()}",
        stats_bind=f"127.0.0.1:{free_port()}",
        rate_limit_requests=1_000_000,
    )
    edge.ensure_running()
    yield target, edge, docker_client
    edge.stop()
    for slot in ("blue", "green"):
        target.retire("course", slot)


def test_blue_green_on_containers(
    rig: tuple[DockerTarget, HAProxyEdge, Any], sandbox: Any, tmp_path: Path
) -> None:
    target, edge, client = rig
    images = {v: _build(client, sandbox.settings.base_image, v) for v in ("v1", "v2")}
    ledger = SqliteLedger(tmp_path / "ledger.db")
    store = RolloutStore(ledger)

    def deploy(version: str) -> Any:
        running = {s.slot: s for s in target.slots("course") if s.running}
        state = plan_rollout(
            environment="itest",
            service="course",
            version=version,
            strategy="blue-green",
            weights=edge.weights("course"),
            running=running,
            image=images[version],
            scale_down_delay=1.0,
        )
        store.save(state)
        return Engine(
            target=target, router=edge, store=store, clock=SystemClock(), settings=EngineSettings(ready_timeout=60)
        ).run(state)

    assert deploy("v1").phase == SUCCEEDED
    load = LoadGenerator(f"{edge.url}/api/course/x", connections=8).start()
    load.wait_total(2000)
    assert deploy("v2").phase == SUCCEEDED
    load.wait_total(load.result.total + 3000)
    result = load.stop()
    ledger.close()
    assert result.failed == 0 and result.total >= 5000, result.to_dict()
    assert set(result.versions) == {"v1", "v2"}
    (green,) = client.containers.list(filters={"name": "itest-course-green"})
    assert green.attrs["HostConfig"]["NetworkMode"] == "host"
    assert green.labels["coursectl.slot"] == "green" and green.labels["coursectl.version"] == "v2"
    assert not client.containers.list(all=True, filters={"name": "itest-course-blue"})
    groups = json.loads((tmp_path / "file_sd" / "coursectl-itest-course.json").read_text())
    assert [g["labels"]["slot"] for g in groups] == ["green"] and groups[0]["labels"]["version"] == "v2"


def test_all_slots_is_one_listing_that_agrees_with_each_service(
    rig: tuple[DockerTarget, HAProxyEdge, Any], sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status reads every service's slots from one listing (through the engine's unix socket without the SDK,
    or through the SDK for other engines): the same slots as asking service by service."""
    from coursectl.ports import SlotSpec

    target, _, client = rig
    image = _build(client, sandbox.settings.base_image, "v7")
    _, port = target.address("course", "blue")
    target.start(SlotSpec("course", "blue", "v7", port, image=image, rollout_id="r7"))
    by_service = target.slots("course")
    assert [s.slot for s in by_service] == ["blue"] and by_service[0].running
    assert target.all_slots(["course", "other"]) == {"course": by_service, "other": []}
    client.containers.get("itest-course-blue").stop(timeout=2)
    [stopped] = target.all_slots(["course"])["course"]
    assert stopped.slot == "blue" and not stopped.running
    from coursectl.adapters import docker_socket

    monkeypatch.setattr(docker_socket, "socket_path", lambda *_: None)  # as for a tcp:// or ssh:// engine
    assert target.all_slots(["course"]) == {"course": [stopped]}
