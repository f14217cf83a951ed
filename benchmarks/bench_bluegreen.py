"""Blue-green switch, canary promotion and rollback under keep-alive load through the HAProxy edge.

Prints failed/total requests during each, and two times measured from `coursectl rollback` starting: when it
sends the switch to the edge, and the last response of the rolled-back version (in-flight requests included).
The load generator runs in this process; on a small machine it competes with coursectl for the CPUs.
Loopback only; local slot processes (`process` target).

    python benchmarks/bench_bluegreen.py [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
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
                proc = subprocess.Popen(
                    d.argv("rollback", "course"),
                    env=d.env,
                    stderr=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    text=True,
                    cwd=d.tmp,
                )
                routed = None
                assert proc.stderr is not None
                for line in proc.stderr:
                    if routed is None and "route 0%" in line:
                        routed = time.monotonic() - started  # the switch command is being sent to the edge
                proc.stderr.close()
                assert proc.wait() == 0
                switched = load.result.last_seen[new] - started
                load.wait_total(load.result.total + 2000)
                back = load.stop()
                deploy.wait(timeout=60)
                switch_times.append(switched)
                report(
                    f"round {n} rollback of {new}",
                    failed=back.failed,
                    total=back.total,
                    switch_step_at=f"{routed:.3f}s",
                    last_old_response_at=f"{switched:.3f}s",
                )
        finally:
            d.cleanup()
    report(
        "rollback: last response of the old version after the command started (s)",
        median=f"{statistics.median(switch_times):.3f}",
        max=f"{max(switch_times):.3f}",
    )


if __name__ == "__main__":
    main()
