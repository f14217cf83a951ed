"""The LogSource contract, run against every implementation: the process target's log files here, docker
containers (on the sandbox's real engine, base-image containers writing JSON lines) in
``tests/integration/test_logsource_docker.py``, which runs these same tests with its own ``rig``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coursectl.ports import LogSource

LINES = {
    ("payment", "blue"): [("r1", "charged"), ("r2", "declined")],
    ("payment", "green"): [("r3", "charged again")],
    ("paymentx", "blue"): [("r9", "a neighbour whose name starts the same")],
}


def _json(service: str, rid: str, message: str) -> str:
    return json.dumps(
        {
            "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "level": "info",
            "service": service,
            "request_id": rid,
            "message": message,
        }
    )


@dataclass
class Rig:
    source: LogSource
    stamps: bool  # the runtime stamps lines (docker) or not (files)


def _files(tmp_path: Path) -> Iterator[Rig]:
    from coursectl.adapters.file_logs import FileLogs

    for (svc, slot), lines in LINES.items():
        (tmp_path / f"{svc}-{slot}.log").write_text("".join(_json(svc, r, m) + "\n" for r, m in lines))
    yield Rig(FileLogs(tmp_path), stamps=False)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    yield from _files(tmp_path)


def test_reads_every_slot_of_the_service_and_only_that_service(rig: Rig) -> None:
    lines = rig.source.read("payment")
    assert {(x.service, x.slot) for x in lines} == {("payment", "blue"), ("payment", "green")}
    messages = [json.loads(x.text)["message"] for x in lines if x.slot == "blue"]
    assert messages == ["charged", "declined"]  # oldest first within a slot
    assert all(isinstance(x.text, str) and not x.text.endswith("\n") for x in lines)
    assert all((x.time is not None) == rig.stamps for x in lines)


def test_one_slot_only(rig: Rig) -> None:
    lines = rig.source.read("payment", slot="green")
    assert [json.loads(x.text)["request_id"] for x in lines] == ["r3"]


def test_a_service_without_slots_has_no_lines(rig: Rig) -> None:
    assert rig.source.read("nobody") == []


def test_since_in_the_future_leaves_out_stamped_lines(rig: Rig) -> None:
    later = rig.source.read("payment", since=datetime.now(UTC) + timedelta(hours=1))
    assert later == [] if rig.stamps else len(later) == 3
