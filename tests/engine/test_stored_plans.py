"""Rollouts stored by coursectl before steps were typed data are read, described and finished by today's code.

The rows in tests/data/rollouts/stored-before-typed-steps.json were written by main 69d70dc (see
tests/data/README.md): each is put into a new ledger's ``rollouts`` table as it was, the fakes are given the
slots and weights they held, and the engine resumes the rollout from another "process".
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from coursectl.errors import PreconditionError
from coursectl.ledger import SqliteLedger
from coursectl.ports import SlotSpec
from coursectl.rollout import steps as st
from coursectl.rollout.analysis import AnalysisRules, MetricRule
from coursectl.rollout.engine import Engine, EngineSettings
from coursectl.rollout.state import ABORTED, ABORTING, PAUSED, PROGRESSING, SUCCEEDED
from coursectl.rollout.store import Rollouts
from coursectl.testing import FakeRouter, FakeTarget, FrozenClock, ScriptedMetrics

DATA = Path(__file__).parents[1] / "data" / "rollouts" / "stored-before-typed-steps.json"
STORED: list[dict[str, Any]] = json.loads(DATA.read_text())["rollouts"]
RULES = AnalysisRules(metrics=(MetricRule("error-rate", max=0.01),), interval=10.0, failure_limit=2,
                      inconclusive_limit=2)  # fmt: skip


class Restarted:
    """A ledger holding one stored row, and the fakes holding what ran when it was stored."""

    def __init__(self, tmp_path: Path, stored: dict[str, Any]):
        path = tmp_path / "ledger.db"
        SqliteLedger(path).close()  # the schema of today
        row = stored["row"]
        with sqlite3.connect(path) as raw:
            raw.execute(
                f"INSERT INTO rollouts ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
        self.ledger = SqliteLedger(path)
        self.rollouts = Rollouts(self.ledger)
        self.target, self.router = FakeTarget({"course": 8002}), FakeRouter()
        for slot in stored["slots"]:
            _, port = self.target.address("course", slot["slot"])
            self.target.start(SlotSpec("course", slot["slot"], slot["version"], port, digest=slot["digest"]))
        self.router.set_weights("course", stored["weights"], {})
        self.engine = Engine(
            target=self.target,
            router=self.router,
            store=self.rollouts,
            clock=FrozenClock(),
            metrics=ScriptedMetrics({"error-rate": 0.001}),
            settings=EngineSettings(rules=RULES),
        )


@pytest.mark.parametrize("stored", STORED, ids=[s["note"][:40] for s in STORED])
def test_a_stored_plan_reads_back_to_the_same_steps_and_words(tmp_path: Path, stored: dict[str, Any]) -> None:
    world = Restarted(tmp_path, stored)
    document = json.loads(stored["row"]["state"])
    state = world.rollouts.load(stored["row"]["id"])
    assert state is not None
    assert all(isinstance(step, st.Start | st.WaitReady | st.Smoke | st.WaitObserved | st.SetWeight | st.Pause
                          | st.Promote | st.Delay | st.Retire) for step in state.steps)  # fmt: skip
    assert [st.describe(step) for step in state.steps] == stored["describe"]
    assert state.to_dict() == document  # saved again, the row says exactly what it said
    world.rollouts.save(state)
    again = world.ledger.read("SELECT state FROM rollouts WHERE id = ?", (state.id,))[0][0]
    assert {k: v for k, v in json.loads(again).items() if k != "updated_at"} == {
        k: v for k, v in document.items() if k != "updated_at"
    }


def test_a_paused_canary_with_a_promote_full_request_is_finished(tmp_path: Path) -> None:
    stored = STORED[0]
    world = Restarted(tmp_path, stored)
    state = world.rollouts.load(stored["row"]["id"])
    assert state is not None and state.phase == PAUSED and isinstance(state.current_step, st.Pause)
    assert world.rollouts.pending_request(state.id) == {"do": "promote-full", "actor": "operator"}
    state.move(PROGRESSING, "resumed")  # what `rollout resume` does before it runs the engine
    final = world.engine.run(state)
    assert final.phase == SUCCEEDED, final.message
    assert world.rollouts.pending_request(state.id) is None
    assert not any(isinstance(step, st.Pause) for step in final.steps)  # --full: no pause left
    assert world.router.weights("course") == {"stable": 100}
    assert world.target.version_in("course", "stable") == "v2"
    assert world.target.version_in("course", "canary") is None
    promote = world.ledger.events(kinds=["rollout.promote"])
    assert promote[-1].details["plan"][0] == {"kind": "weight", "weight": 60}  # the ledger's step format


def test_a_blue_green_rollout_killed_during_its_analysis_is_resumed(tmp_path: Path) -> None:
    stored = STORED[1]
    world = Restarted(tmp_path, stored)
    state = world.rollouts.active("local", "course")
    assert state is not None and state.phase == PROGRESSING
    assert state.current_step == st.Pause(20.0, analyze=True)
    final = world.engine.run(state)
    assert final.phase == SUCCEEDED, final.message
    assert world.router.weights("course") == {"green": 100}
    assert world.target.version_in("course", "blue") is None  # retired after the scale-down delay
    done = [e.details["step"] for e in world.ledger.events(kinds=["rollout.step"], newest_first=False)]
    assert done == [
        {"kind": "pause", "duration": 20.0, "analyze": True},
        {"kind": "promoted"},
        {"kind": "delay", "duration": 30.0},
        {"kind": "retire", "slot": "blue"},
    ]


def test_an_aborting_canary_puts_the_old_version_back_in_the_stable_slot(tmp_path: Path) -> None:
    stored = STORED[2]
    world = Restarted(tmp_path, stored)
    state = world.rollouts.active("local", "course")
    assert state is not None and state.phase == ABORTING
    assert state.steps[1] == st.Start("stable", "stable-old")
    final = world.engine.run(state)
    assert final.phase == ABORTED, final.message
    assert world.router.weights("course") == {"stable": 100}
    assert world.target.version_in("course", "stable") == "v1"
    assert world.target.version_in("course", "canary") is None


@pytest.mark.parametrize(
    "step, problem",
    [
        ({"kind": "teleport", "slot": "blue"}, "unknown rollout step"),
        ({"kind": "retire"}, "has no 'slot'"),
        ({"kind": "weight", "weight": 150}, "0 to 100"),
        ({"kind": "weight", "weight": "20"}, "whole number"),
    ],
)
def test_a_step_this_coursectl_cannot_read_is_a_clear_error(
    tmp_path: Path, step: dict[str, Any], problem: str
) -> None:
    stored = json.loads(json.dumps(STORED[1]))
    document = json.loads(stored["row"]["state"])
    document["steps"][-1] = step
    stored["row"]["state"] = json.dumps(document)
    world = Restarted(tmp_path, stored)
    with pytest.raises(PreconditionError, match=problem) as caught:
        world.rollouts.load(stored["row"]["id"])
    assert stored["row"]["id"] in caught.value.message
