"""The wave planner of a release (pure): order from groups and dependencies, checks, worst-case timing."""

from __future__ import annotations

import math

import pytest

from coursectl.rollout import steps as st
from coursectl.rollout.release_state import ReleaseState, ServiceEntry
from coursectl.rollout.waves import (
    WaveError,
    check_order,
    plan_waves,
    rollback_order,
    worst_case_release,
    worst_case_steps,
)

ALL = ["content", "course", "enrollment", "notification", "payment", "user"]


@pytest.mark.parametrize(
    ("selected", "order", "deps", "waves"),
    [
        # nothing said: one wave
        (ALL, [], {}, [ALL]),
        # groups; services not named join the last group
        (
            ALL,
            [["user"], ["course", "payment"]],
            {},
            [["user"], ["content", "course", "enrollment", "notification", "payment"]],
        ),  # fmt: skip
        # dependencies: layers
        (
            ALL,
            [],
            {"enrollment": ["course", "payment"], "course": ["user"], "payment": ["user"]},
            [["content", "notification", "user"], ["course", "payment"], ["enrollment"]],
        ),
        # only the services released are placed, ordered through the others (enrollment → course → user)
        (["enrollment", "user"], [], {"enrollment": ["course"], "course": ["user"]}, [["user"], ["enrollment"]]),
        # both: the later of the two
        (["user", "course"], [["course", "user"]], {"course": ["user"]}, [["user"], ["course"]]),
        # empty waves are dropped
        (["payment"], [["user"], ["course"], ["payment"]], {}, [["payment"]]),
        ([], [], {}, []),
    ],
)
def test_plan_waves(
    selected: list[str], order: list[list[str]], deps: dict[str, list[str]], waves: list[list[str]]
) -> None:
    assert plan_waves(ALL, selected, order=order, depends_on=deps) == waves


@pytest.mark.parametrize(
    ("order", "deps", "key", "words"),
    [
        ([["user"], ["nope"]], {}, "release.order[1]", "unknown service 'nope'"),
        ([["user"], ["user"]], {}, "release.order[1]", "already in release.order[0]"),
        ([[]], {}, "release.order[0]", "an empty group"),
        ([], {"course": ["ghost"]}, "services.course.depends_on", "unknown service 'ghost'"),
        ([], {"course": ["course"]}, "services.course.depends_on", "itself"),
        (
            [],
            {"course": ["user"], "user": ["payment"], "payment": ["course"]},
            "services.course.depends_on",
            "cycle: course → user → payment → course",
        ),
        ([["course"], ["user"]], {"course": ["user"]}, "services.course.depends_on", "release.order puts later"),
    ],
)
def test_bad_orders_name_the_key(order: list[list[str]], deps: dict[str, list[str]], key: str, words: str) -> None:
    with pytest.raises(WaveError) as err:
        check_order(ALL, order, deps)
    assert err.value.key == key and words in str(err.value)


def test_worst_case_steps() -> None:
    steps: list[st.Step] = [
        st.Start("green"),
        st.WaitReady("green"),
        st.SetWeight(100),
        st.Pause(20.0, analyze=True),
        st.Delay(30.0),
    ]
    assert worst_case_steps(steps, ready_timeout=90, step_overhead=1) == 1 + 90 + 1 + 20 + 30
    assert worst_case_steps([st.Pause(None)], ready_timeout=1) == math.inf


@pytest.mark.parametrize(
    ("waves", "parallel", "expected"),
    [
        ([["a", "b", "c"]], 3, 30.0),  # all at once: the longest
        ([["a", "b", "c"]], 1, 60.0),  # one at a time: the sum
        ([["a", "b", "c"]], 2, 30.0),  # c (30) on one worker, a+b (10+20) on the other
        ([["a"], ["b", "c"]], 3, 40.0),  # waves add up
    ],
)
def test_worst_case_release(waves: list[list[str]], parallel: int, expected: float) -> None:
    durations = {"a": 10.0, "b": 20.0, "c": 30.0}
    order = [sorted(w, key=lambda n: -durations[n]) for w in waves] if parallel == 2 else waves
    assert worst_case_release(order, durations, parallel) == expected


def test_rollback_order_is_the_last_wave_first() -> None:
    waves = [["user"], ["course", "payment"], ["enrollment"]]
    assert rollback_order(waves, ["user", "course", "payment"]) == [["payment", "course"], ["user"]]
    assert rollback_order(waves, []) == []


def test_release_entity_round_trips() -> None:
    rel = ReleaseState(
        id="rel-1",
        environment="local",
        actor="me",
        waves=[["user"], ["course"]],
        services={
            "user": ServiceEntry("user", 0, "v2", from_version="v1", state="promoted"),
            "course": ServiceEntry("course", 1, "v2", from_version="v1", state="pending"),
        },
        on_failure="rollback-all",
    )
    again = ReleaseState.from_dict(rel.to_dict())
    assert again == rel
    assert again.in_state("promoted", "pending") == ["user", "course"]
    assert again.active and again.owner_alive()
