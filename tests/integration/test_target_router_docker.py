"""The Target + TrafficRouter contract (tests/contract/test_target_router_contract.py) against the docker target
on the sandbox's real engine (containers on the host network) behind a real HAProxy edge: the same tests, with
this module's ``rig``. The stand-in service's images (one per version) are built once for the module."""

from __future__ import annotations

import io
import shutil
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from coursectl.errors import CoursectlError, PreconditionError
from coursectl.ports import SlotSpec
from tests.contract.test_target_router_contract import (  # noqa: F401 - collected here with the docker rig
    SERVICE,
    Rig,
    _edge,
    _free_base,
    port_taken,
    send_through_edge,
    stop_edge,
    test_a_slot_has_its_own_address_before_it_exists,
    test_a_slot_that_cannot_run_is_a_coursectl_error,
    test_a_slot_that_is_not_ready_gets_no_traffic,
    test_live_state_is_read_back_after_a_restart,
    test_retire_and_remove_take_a_slot_away,
    test_start_then_ready_then_listed,
    test_starting_what_already_runs_leaves_it_alone_and_a_new_version_replaces_it,
    test_they_are_a_target_and_a_router,
    test_weights_are_set_verified_and_read_back,
    test_weights_for_a_service_the_router_does_not_know_are_refused,
)

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]

TINY = Path(__file__).resolve().parents[2] / "coursectl" / "tinyservice.py"
REPOSITORY = "coursectl-test/contract"


@pytest.fixture(scope="module")
def images(sandbox: Any, docker_client: Any) -> dict[str, str]:
    """The stand-in service as an image per version (its /version and answers name the version)."""
    out = {}
    for version in ("v1", "v2"):
        dockerfile = (
            f"FROM {sandbox.settings.base_image}\nCOPY tinyservice.py /app/tinyservice.py\n"
            f'ENV VERSION={version} SERVICE={SERVICE}\nCMD ["python3", "/app/tinyservice.py"]\n'
        )
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in (("Dockerfile", dockerfile.encode()), ("tinyservice.py", TINY.read_bytes())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        buf.seek(0)
        tag = f"{REPOSITORY}:{version}"
        docker_client.images.build(fileobj=buf, custom_context=True, tag=tag, network_mode="host", rm=True)
        out[version] = tag
    return out


@pytest.fixture
def rig(sandbox: Any, images: dict[str, str], tmp_path: Path) -> Iterator[Rig]:
    from coursectl.adapters.docker_target import DockerTarget
    from coursectl.adapters.haproxy import HAProxyEdge

    stamp = int(time.time() * 1000) % 10**8
    prefix, environment = (
        f"contract{stamp}-",
        f"contract{stamp}",
    )  # never another run's or environment's containers
    edge = _edge(tmp_path / "edge")
    edge.ensure_running()  # first: the slots' ports are then chosen among those still free
    ports = {SERVICE: _free_base()}
    creds = sandbox.credentials()

    def make_target() -> DockerTarget:
        return DockerTarget(
            environment=environment,
            ports=ports,
            docker_host=sandbox.docker_host(),
            stop_timeout=1,
            name_prefix=prefix,
            registry_auth=creds.auth_config(),
        )

    target = make_target()
    state = {"edge": edge}

    def spec(slot: str, version: str, ready: bool = True) -> SlotSpec:
        return SlotSpec(
            SERVICE,
            slot,
            version,
            target.address(SERVICE, slot)[1],
            image=images.get(version),
            rollout_id="r-contract",
            env={} if ready else {"FAULT_NOT_READY": "1"},
        )

    def fresh() -> tuple[Any, Any]:
        old = state["edge"]
        stop_edge(old)
        new = HAProxyEdge(
            old.workdir,
            services=old.services,
            bind=old.bind,
            stats_bind=old.stats_bind,
            rate_limit_requests=1_000_000,
            drain_timeout=2.0,
            check_timeout=5.0,
        )
        new.ensure_running()
        state["edge"] = new
        return make_target(), new

    def container_id(slot: str) -> object:
        found = target.client.containers.list(all=True, filters={"name": f"{prefix}{SERVICE}-{slot}"})
        return found[0].id if found else None

    @contextmanager
    def missing_image() -> Iterator[tuple[SlotSpec, type[CoursectlError]]]:
        registry = f"127.0.0.1:{sandbox.settings.registry_port}"
        yield (
            SlotSpec(
                SERVICE,
                "green",
                "v-missing",
                target.address(SERVICE, "green")[1],
                image=f"{registry}/contract/never-pushed:v-missing",
            ),
            PreconditionError,
        )

    made = Rig(
        target,
        edge,
        spec,
        fresh,
        container_id,
        [missing_image, port_taken(spec)],
        send=lambda n: send_through_edge(state["edge"], n),
        ready_timeout=60.0,
        not_ready_timeout=3.0,
    )
    try:
        yield made
    finally:
        stop_edge(state["edge"])
        for slot in ("blue", "green"):
            target.retire(SERVICE, slot)
