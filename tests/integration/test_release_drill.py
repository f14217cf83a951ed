"""`release` on the process target: a fake image service stands in for build/push (tested in its own piece);
rollout, the scan skip record, the journey step and the summary are real."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coursectl.api.journey import JourneyResult, JourneyStep
from coursectl.api.release import release
from coursectl.config import load_config
from coursectl.ledger import SqliteLedger
from coursectl.testing.drill import Drill
from coursectl.wiring import rollout_context

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]


@dataclass
class _Result:
    service: str
    version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "status": "built",
            "version": self.version,
            "digest": None,
            "repository": f"127.0.0.1:5000/course-platform/{self.service}",
            "error": None,
        }


class FakeImages:
    def __init__(self, version: str):
        self.version = version

    def build(self, names: list[str], **_: Any) -> Any:
        return type("Report", (), {"results": [_Result(n, self.version) for n in names]})()


def _ok_journey(url: str) -> JourneyResult:
    return JourneyResult(url, [JourneyStep("browse", True, "GET /api/course/courses: 200 (expected 200)")])


def test_release_rolls_out_changed_services_and_records_everything(tmp_path: Path) -> None:
    d = Drill(tmp_path)
    ledger = SqliteLedger(d.state / "ledger.db")
    try:
        ctx = rollout_context(load_config(str(d.config), "drill"), ledger, d.state, actor="release-test")
        first = release(ctx, image_service=FakeImages("1.0.0"), journey=_ok_journey)
        assert first.ok, first.to_dict()
        assert [s.name for s in first.stages] == ["build+push", "sbom", "scan", "rollout", "journey"]
        assert first.stages[1].status == "skipped" and "not images" in first.stages[1].detail  # process target
        assert first.stages[2].status == "skipped"
        assert first.deployed[0]["version"] == "1.0.0" and first.deployed[0]["phase"] == "succeeded"
        assert first.status["services"][0]["version"] == "1.0.0"  # type: ignore[index]
        again = release(ctx, image_service=FakeImages("1.0.0"), journey=_ok_journey)
        assert again.deployed[0]["phase"] == "unchanged"
        assert "skipped" in first.stages[2].detail
        kinds = {(e.kind, e.outcome) for e in ledger.events()}
        assert {("release", "succeeded"), ("scan", "skipped"), ("deployment", "succeeded")} <= kinds
    finally:
        ledger.close()
        d.cleanup()
