"""Blue-green switch, canary promotion and rollback under keep-alive load through the HAProxy edge.

Prints failed/total requests during each, and the time from `coursectl rollback` starting to the last
response of the rolled-back version (traffic switched). Loopback only; local slot processes (`process` target).

    python benchmarks/bench_bluegreen.py [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import report

from coursectl.testing.drill import Drill
from coursectl.testing.load import LoadGenerator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    switch_times = []
    with tempfile.TemporaryDirectory(prefix="coursectl-bench-") as tmp:
        d = Drill(Path(tmp), delay=600)
        try:
            assert d.run("deploy", "course", "--version", "v0").returncode == 0
            for n in range(1, args.rounds + 1):
                new = f"v{n}"
                load = LoadGenerator(d.url, connections=args.connections).start()
                load.wait_total(2000)
                deploy = d.popen("deploy", "course", "--version", new)  # stays in the scale-down delay
                while new not in load.result.versions:
                    time.sleep(0.02)
                load.wait_total(load.result.total + 3000)
                switch = load.stop()
                report(f"round {n} blue-green switch to {new}", failed=switch.failed, total=switch.total)
                load = LoadGenerator(d.url, connections=args.connections).start()
                load.wait_total(2000)
                started = time.monotonic()
                r = d.run("rollback", "course")
                assert r.returncode == 0, r.stderr
                switched = load.result.last_seen[new] - started
                load.wait_total(load.result.total + 2000)
                back = load.stop()
                deploy.wait(timeout=60)
                switch_times.append(switched)
                report(f"round {n} rollback of {new}", failed=back.failed, total=back.total,
                       switch_seconds=f"{switched:.3f}")
                assert d.run("deploy", "course", "--version", f"v0-{n}").returncode in (0,)  # leave a clean base
        finally:
            d.cleanup()
    report("rollback switch time (s)", median=f"{statistics.median(switch_times):.3f}",
           max=f"{max(switch_times):.3f}")


if __name__ == "__main__":
    main()
