"""The process target runs a service with its own argv when the environment names one (``process_commands``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from coursectl.ports import SlotSpec
from coursectl.adapters.process_target import ProcessTarget

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_service_named_in_commands_runs_its_own_argv_the_others_the_default(tmp_path: Path) -> None:
    ports = {"storefront": _free_port(), "course": _free_port()}
    target = ProcessTarget(
        tmp_path / "slots",
        ports,
        command=["{python}", "-c", "import sys; sys.exit(3)"],  # a default that never becomes ready
        commands={"storefront": ["{python}", "-m", "coursectl.tinyservice"]},
    )
    try:
        target.start(SlotSpec(service="storefront", slot="blue", version="v1", port=ports["storefront"]))
        ready = target.wait_ready("storefront", "blue", timeout=20)
        assert ready.running and ready.version == "v1"
        target.start(SlotSpec(service="course", slot="blue", version="v1", port=ports["course"]))
        with pytest.raises(Exception, match="course"):
            target.wait_ready("course", "blue", timeout=3)
    finally:
        target.stop_all()


def test_a_slot_process_left_unrecorded_by_a_killed_deploy_is_reclaimed_a_foreign_one_refused(tmp_path: Path) -> None:
    """A deploy killed between starting a slot and recording it leaves the slot's process holding its port: the
    next start recognises it as its own and replaces it; any other program on the port is still refused."""
    ports = {"course": _free_port()}
    target = ProcessTarget(tmp_path / "slots", ports, command=["{python}", "-m", "coursectl.tinyservice"])
    spec = SlotSpec(service="course", slot="blue", version="v1", port=ports["course"])
    try:
        target.start(spec)
        assert target.wait_ready("course", "blue", timeout=20).running
        record = tmp_path / "slots" / "slots.json"
        orphan = int(json.loads(record.read_text())["course-blue"]["pid"])
        record.write_text("{}")  # the record the killed deploy never wrote
        target.start(SlotSpec(service="course", slot="blue", version="v2", port=ports["course"]))
        again = target.wait_ready("course", "blue", timeout=20)
        assert again.running and again.version == "v2"
        assert int(json.loads(record.read_text())["course-blue"]["pid"]) != orphan
        assert not Path(f"/proc/{orphan}").exists() or "Z" in Path(f"/proc/{orphan}/stat").read_text().split(")")[1][:3]
    finally:
        target.stop_all()
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        foreign.bind(("127.0.0.1", ports["course"]))
        foreign.listen()
        with pytest.raises(Exception, match=r"already in use by python"):
            target.start(spec)
