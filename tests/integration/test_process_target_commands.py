"""The process target runs a service with its own argv when the environment names one (``process_commands``)."""

from __future__ import annotations

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
