"""Six changed services released to a blue-green environment: one at a time (the behaviour before waves:
release.parallel: 1, keep_old_warm: false — each rollout complete, its old colour retired, before the next)
against waves (three waves of two; and one wave of six; old colours kept warm until the release is good, then
retired together), and one at a time with warm colours, same machine, same run, rounds alternating; then a bad
service in wave 2 of 3 with on_failure: rollback-all, under load through the edge on every service: the time
until every service is back on its previous version, and the requests that failed.

Local slot processes (the tiny stand-in service, process target) behind a real HAProxy edge; each rollout keeps
its old slot warm for --delay seconds as blue-green does; the times are those of the `coursectl release`
command line, start to exit. Loopback only.

    python benchmarks/release_waves.py [--rounds 3] [--delay 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import report

from coursectl.testing.load import LoadGenerator
from coursectl.testing.waves import SERVICES, WavesPlatform

MODES = {  # name: (order in three groups, parallel, old colours kept warm until the release is good)
    "sequential": (False, 1, False),  # the release before waves: one rollout after the other, each complete
    "sequential-warm": (False, 1, True),  # one at a time, old colours retired at the end
    "waves-3x2": (True, 3, True),
    "one-wave-x6": (False, 6, True),
}


def _t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _latest(p: WavesPlatform) -> dict[str, Any]:
    from coursectl.ledger import SqliteLedger
    from coursectl.rollout.release_state import ReleaseStore

    with SqliteLedger(p.state / "ledger.db") as ledger:
        rel = ReleaseStore(ledger).latest("w")
        assert rel is not None
        return rel.to_dict()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay", type=float, default=3.0, help="blue-green scale-down delay (seconds)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coursectl-bench-") as tmp:
        p = WavesPlatform(Path(tmp), base=24400, delay=args.delay, ready_timeout=5.0)
        try:
            assert p.run("release", "--version", "v0").returncode == 0
            times: dict[str, list[float]] = {mode: [] for mode in MODES}
            n = 0
            for _ in range(args.rounds):
                for mode, (order, parallel, warm) in MODES.items():
                    n += 1
                    p.order, p.parallel, p.keep_old_warm = order, parallel, warm
                    p.write()
                    began = time.monotonic()
                    done = p.run("release", "--version", f"v{n}")
                    took = time.monotonic() - began
                    assert done.returncode == 0, done.stderr[-2000:]
                    assert p.versions() == dict.fromkeys(SERVICES, f"v{n}")
                    times[mode].append(took)
            medians = {mode: statistics.median(t) for mode, t in times.items()}
            for mode, t in times.items():
                report(f"release of 6 services, {mode}", median_s=round(medians[mode], 2),
                       runs=" ".join(f"{x:.2f}" for x in t))  # fmt: skip
            for mode in ("sequential-warm", "waves-3x2", "one-wave-x6"):
                report(f"{mode} against sequential", share=f"{medians[mode] / medians['sequential']:.0%}")

            # a bad service in wave 2 of 3, rollback-all, under load through the edge on every service
            previous = f"v{n}"
            p.order, p.parallel, p.on_failure, p.bad, p.keep_old_warm = True, 3, "rollback-all", "payment", True
            p.write()
            loads = [LoadGenerator(p.url(s), connections=2, rate_per_conn=50).start() for s in SERVICES]
            for load in loads:
                load.wait_total(200)
            began = time.monotonic()
            done = p.run("release", "--version", "bad", "-o", "json")
            back = time.monotonic() - began
            time.sleep(1.0)  # requests in flight at the end are counted too
            results = [load.stop() for load in loads]
            assert done.returncode == 7, done.stderr[-2000:]
            versions = p.versions()
            rel = _latest(p)
            entries = rel["services"]
            failed_at = _t(entries["payment"]["finished_at"])
            last_back = max(_t(e["finished_at"]) for e in entries.values() if e["state"] == "rolled-back")
            report(
                "bad service in wave 2 of 3 (rollback-all)",
                release_start_to_all_back_s=round(back, 2),
                failure_to_all_back_s=round(last_back - failed_at, 2),
                all_back_on_previous=versions == dict.fromkeys(SERVICES, previous),
                states=json.dumps({k: v["state"] for k, v in entries.items()}, separators=(",", ":")),
                requests_through_edge=sum(r.total for r in results),
                failed=sum(r.failed for r in results),
            )
        finally:
            p.cleanup()


if __name__ == "__main__":
    main()
