"""How long `coursectl rollback` keeps the on-call engineer: from its start to the traffic switch, to its return,
and to the end of what it leaves to its detached finisher (the old slot's drain and retire, the outcome record);
against the same rollback told to wait for all of it (COURSECTL_ROLLBACK_WAIT=1, how it was before issue 18),
alternating in the same run. Median of --rounds each.

The rollback is the one an on-call engineer runs mid-release: a blue-green deploy has switched and keeps the
old colour warm (its scale-down delay), the rollback takes it over and switches back. The platform's course
service as local slot processes behind a real HAProxy edge (the `process` target; retiring a slot is a graceful
uvicorn stop); loopback only. Run it under the machine lock:

    flock -o /tmp/coursectl-heavy.lock .venv/bin/python benchmarks/rollback_latency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import report

from coursectl.testing.drill import Drill

WAIT = "COURSECTL_ROLLBACK_WAIT"


def latest(d: Any, service: str = "course") -> dict[str, Any] | None:
    with sqlite3.connect(d.state / "ledger.db", timeout=5) as conn:
        row = conn.execute(
            "SELECT state FROM rollouts WHERE service = ? ORDER BY started_at DESC, rowid DESC LIMIT 1", (service,)
        ).fetchone()
    return json.loads(row[0]) if row else None


def events(d: Any, rollout_id: str) -> list[tuple[float, str, str | None, dict[str, Any]]]:
    """(unix time, kind, outcome, details) of a rollout's events, oldest first."""
    from coursectl.ledger import SqliteLedger

    ledger = SqliteLedger(d.state / "ledger.db")
    try:
        found = ledger.events(service="course", limit=2000, newest_first=False)
    finally:
        ledger.close()
    return [(e.time.timestamp(), e.kind, e.outcome, e.details) for e in found
            if e.details.get("rollout_id") == rollout_id]  # fmt: skip


def wait_for(check: Any, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit("timed out waiting")


def one_round(d: Any, deploy_args: list[str], *, wait: bool) -> dict[str, float]:
    """One rollback of course while ``deploy course <deploy_args>`` keeps the old colour warm. ``d``: a Drill, or
    anything with its ``popen``, ``argv``, ``env``, ``tmp`` and ``state`` (benchmarks/idle_cost.py's platform)."""
    before = (latest(d) or {}).get("id")
    deploy = d.popen("deploy", "course", *deploy_args)

    def in_delay() -> bool:  # switched to the new colour, the old one kept warm
        state = latest(d)
        return bool(state and state["id"] != before and state["phase"] == "progressing"
                    and state["steps"][state["step_index"]]["kind"] == "delay")  # fmt: skip

    wait_for(in_delay)
    rollout_id = str(latest(d)["id"])  # type: ignore[index]
    env = dict(d.env)
    if wait:
        env[WAIT] = "1"
    else:
        env.pop(WAIT, None)
    started = time.time()
    done = subprocess.run(d.argv("rollback", "course"), env=env, capture_output=True, text=True, timeout=180,
                          cwd=d.tmp)  # fmt: skip
    returned = time.time()
    if done.returncode != 0:
        raise SystemExit(f"rollback failed: {done.stderr[-2000:]}")

    def finished() -> list[tuple[float, str, str | None, dict[str, Any]]] | None:
        found = events(d, rollout_id)
        return found if any(k == "rollout.abort" and o == "done" for _, k, o, _ in found) else None

    found = wait_for(finished)
    switch = min(
        t
        for t, k, o, det in found
        if k == "rollout.step" and o == "done" and det.get("phase") == "aborting"
        and det.get("step", {}).get("kind") == "weight"
    )  # fmt: skip
    end = max(t for t, k, o, _ in found if k == "rollout.abort" and o == "done")
    deploy.wait(timeout=60)
    return {"switch": switch - started, "return": returned - started, "finished": end - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="coursectl-rollback-bench-") as tmp:
        d = Drill(Path(tmp), delay=600)
        d.env.pop(WAIT, None)
        d.env.pop("PYTHONDONTWRITEBYTECODE", None)
        # the platform's real course service (uvicorn: it stops gracefully), not the drills' tiny stand-in
        real = '    process_command: ["{python}", "-m", "{service}_service"]\n'
        text = d.config.read_text()
        d.config.write_text(
            text.replace("  drill:\n    target: process\n", "  drill:\n    target: process\n" + real, 1)
        )
        try:
            if d.run("deploy", "course", "--version", "v0").returncode != 0:
                raise SystemExit("first deploy failed")
            for n in range(1, args.rounds + 1):
                for wait in (False, True):
                    version = f"v{n}{'w' if wait else 'h'}"
                    figures[wait].append(one_round(d, ["--version", version], wait=wait))
                    f = figures[wait][-1]
                    report(f"round {n} {'waiting' if wait else 'handing off'}",
                           **{k: f"{v:.3f}s" for k, v in f.items()})  # fmt: skip
        finally:
            d.cleanup()
    summarize(figures)


def summarize(figures: dict[bool, list[dict[str, float]]]) -> None:
    for wait, label in ((False, "rollback (hands the retire to its finisher)"),
                        (True, "rollback with COURSECTL_ROLLBACK_WAIT=1 (waits, as before)")):  # fmt: skip
        rows = figures[wait]
        med = {k: statistics.median(r[k] for r in rows) for k in ("switch", "return", "finished")}
        report(
            label,
            start_to_switch=f"{med['switch']:.3f}s",
            start_to_return=f"{med['return']:.3f}s",
            switch_to_return=f"{med['return'] - med['switch']:.3f}s",
            start_to_retired_and_recorded=f"{med['finished']:.3f}s",
            rounds=len(rows),
        )


if __name__ == "__main__":
    main()
