"""Median wall time of coursectl's quickest commands: --version, --help and config validate."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def measure(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, check=False)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    exe = shutil.which("coursectl", path=str(Path(sys.executable).parent)) or shutil.which("coursectl")
    base = [exe] if exe else [sys.executable, "-m", "coursectl"]
    os.environ.setdefault("COURSECTL_STATE_DIR", str(REPO / ".state" / "bench"))
    print(f"{'command':<34} {'median':>8} {'min':>8} {'max':>8}   ({args.runs} runs)")
    for label, extra in (
        ("coursectl --version", ["--version"]),
        ("coursectl --help", ["--help"]),
        ("coursectl config validate", ["config", "validate"]),
    ):
        measure(base + extra, 1)  # warm the file cache
        times = measure(base + extra, args.runs)
        print(f"{label:<34} {statistics.median(times):>7.3f}s {min(times):>7.3f}s {max(times):>7.3f}s")


if __name__ == "__main__":
    main()
