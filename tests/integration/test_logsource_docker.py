"""The LogSource contract (tests/contract/test_logsource_contract.py) against docker containers on the sandbox's
real engine: base-image containers labelled like coursectl's slots, writing JSON lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.test_logsource_contract import (  # noqa: F401 - collected here with the docker rig
    LINES,
    Rig,
    _json,
    test_a_service_without_slots_has_no_lines,
    test_one_slot_only,
    test_reads_every_slot_of_the_service_and_only_that_service,
    test_since_in_the_future_leaves_out_stamped_lines,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def rig(sandbox: Any, docker_client: Any) -> Iterator[Rig]:
    from coursectl.adapters.docker_logs import DockerLogs

    env = f"contract-{int(time.time() * 1000)}"
    containers: list[Any] = []
    try:
        for (svc, slot), lines in LINES.items():
            script = "".join(f"print({_json(svc, r, m)!r}, flush=True)\n" for r, m in lines)
            containers.append(
                docker_client.containers.run(
                    sandbox.settings.base_image,
                    ["python3", "-c", script],
                    detach=True,
                    network_mode="host",
                    labels={"coursectl.managed": "true", "coursectl.environment": env, "coursectl.service": svc,
                            "coursectl.slot": slot},
                    name=f"logcontract-{env}-{svc}-{slot}",
                )
            )
        for c in containers:
            assert c.wait(timeout=60)["StatusCode"] == 0, c.logs()
        yield Rig(DockerLogs(environment=env, docker_host=sandbox.docker_host()), stamps=True)
    finally:
        for c in containers:
            c.remove(force=True)


def test_lines_keep_the_json_the_service_wrote(rig: Rig) -> None:
    [line] = rig.source.read("paymentx")
    assert json.loads(line.text)["message"] == "a neighbour whose name starts the same"
