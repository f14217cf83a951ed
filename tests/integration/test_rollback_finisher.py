"""`coursectl rollback` through the real command line returns at the switch: its detached finisher (a process of
its own session) retires the old slot and records the outcome afterwards, also when the rollback is interrupted
with Ctrl-C. Local slot processes behind a real HAProxy edge."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coursectl.testing.drill import Drill

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]


STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Drill]:
    d = Drill(tmp_path, delay=600)  # a deploy keeps the old colour warm: the rollback takes it over
    d.env.pop("COURSECTL_ROLLBACK_WAIT", None)  # tests/conftest.py sets it for the other tests
    yield d
    for proc in STARTED:  # a failed assertion must not leave a deploy running (nor a Popen to warn about)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    STARTED.clear()
    d.cleanup()


def events(d: Drill, **filters: Any) -> list[Any]:
    from coursectl.ledger import SqliteLedger

    ledger = SqliteLedger(d.state / "ledger.db")
    try:
        return ledger.events(service="course", limit=1000, newest_first=False, **filters)
    finally:
        ledger.close()


def wait_for(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def in_delay(d: Drill, version: str) -> subprocess.Popen[str]:
    """A deploy of ``version`` that has switched and keeps the old colour warm."""
    deploy = d.popen("deploy", "course", "--version", version)
    STARTED.append(deploy)

    def delaying() -> bool:
        steps = [e for e in events(d, kinds=["rollout.step"]) if e.version == version]
        return any(e.details.get("step", {}).get("kind") == "promoted" for e in steps)

    wait_for(delaying)
    return deploy


def status(d: Drill) -> dict[str, Any]:
    r = d.run("status", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["services"][0]  # type: ignore[no-any-return]


def test_rollback_returns_before_the_retire_which_still_happens_and_is_recorded(drill: Drill) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    deploy = in_delay(drill, "v2")
    r = drill.run("rollback", "course", "-o", "json")
    returned = time.time()
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["finishing"] and result["finishing"][0].startswith("retire")
    assert status(drill)["version"] == "v1"  # users are back on v1 at once
    [handed] = [e for e in events(drill, kinds=["rollout.step"]) if e.outcome == "handed-off"]
    rollout_id = handed.details["rollout_id"]

    def retired() -> Any:
        return [e for e in events(drill, kinds=["rollout.step"]) if e.details.get("rollout_id") == rollout_id
                and e.outcome == "done" and e.details.get("step", {}).get("kind") == "retire"]  # fmt: skip

    [retire] = wait_for(retired)
    assert retire.time.timestamp() > returned - 0.05  # done by the finisher, after the rollback had returned
    final = wait_for(lambda: (s := status(drill))["rollout"] is None and s)
    assert final["version"] == "v1" and final["weights"] == {"blue": 100} and len(final["slots"]) == 1
    assert final["lock"] is None
    kinds = {(e.kind, e.outcome) for e in events(drill, kinds=["rollback", "deployment", "rollout.abort"])}
    assert {("rollback", "succeeded"), ("deployment", "rolled_back"), ("rollout.abort", "done")} <= kinds
    log = (drill.state / "finishers" / f"{rollout_id}.log").read_text()
    assert "retire" in log
    assert deploy.wait(timeout=60) == 7


def test_ctrl_c_on_the_rollback_loses_nothing(drill: Drill) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    deploy = in_delay(drill, "v2")
    # the rollback in a process group of its own, like a terminal's foreground job; Ctrl-C goes to that group
    rollback = subprocess.Popen(
        drill.argv("rollback", "course"),
        env=drill.env,
        cwd=drill.tmp,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    STARTED.append(rollback)
    handed = wait_for(lambda: [e for e in events(drill, kinds=["rollout.step"]) if e.outcome == "handed-off"])
    try:
        os.killpg(rollback.pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # it had returned already
    out, err = rollback.communicate(timeout=60)
    # 0: it had returned; 130: interrupted (recorded); -SIGINT: the signal came while the interpreter was exiting
    assert rollback.returncode in (0, 130, -signal.SIGINT), err
    finisher_pid = handed[0].details["finisher_pid"]
    assert finisher_pid != rollback.pid
    final = wait_for(lambda: (s := status(drill))["rollout"] is None and s)
    assert final["version"] == "v1" and len(final["slots"]) == 1 and final["lock"] is None
    kinds = {(e.kind, e.outcome) for e in events(drill, kinds=["rollback", "deployment"])}
    assert {("rollback", "succeeded"), ("deployment", "rolled_back")} <= kinds
    assert deploy.wait(timeout=60) == 7


def test_a_killed_finisher_is_finished_by_rollout_finish(drill: Drill) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    deploy = in_delay(drill, "v2")
    r = drill.run("rollback", "course", "-o", "json")
    assert r.returncode == 0, r.stderr
    [handed] = [e for e in events(drill, kinds=["rollout.step"]) if e.outcome == "handed-off"]
    try:  # killed as a reboot would: mid-way, or after it finished
        os.kill(handed.details["finisher_pid"], signal.SIGKILL)
    except ProcessLookupError:
        pass
    done = drill.run("rollout", "finish", "course", "-o", "json")
    assert done.returncode == 0, done.stderr
    final = status(drill)
    assert final["rollout"] is None and len(final["slots"]) == 1 and final["lock"] is None
    assert final["version"] == "v1"
    kinds = {(e.kind, e.outcome) for e in events(drill, kinds=["rollback", "deployment"])}
    assert {("rollback", "succeeded"), ("deployment", "rolled_back")} <= kinds
    assert deploy.wait(timeout=60) == 7
