"""Median wall time of `coursectl --version`, `--help` and `status -o json` (six services), against
`kubectl version --client` measured in the same run (when kubectl is installed), and where the time goes.

`status` runs against a released local platform when one answers (`coursectl -e local status` finds its six
services running: run this under the machine lock after `bash scripts/main.sh`); otherwise it brings up six
platform services as local processes behind a real HAProxy edge (the `process` target, ports 25000-25999),
measures there, says so, and stops them.

    python benchmarks/cli_startup.py [--runs 9] [--platform auto|local|processes]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIX = ("user", "course", "payment", "enrollment", "notification", "content")

PROCESS_CONFIG = """project: bench
default_environment: bench
services:
{services}
registry: {{url: 127.0.0.1:5000}}
scan: {{skip_missing: true}}
environments:
  bench:
    target: process
    process_command: ["{{python}}", "-m", "{{service}}_service"]
    strategy: blue-green
    scale_down_delay: 0s
    file_sd_dir: {file_sd}
    edge: {{bind: "127.0.0.1:25080", stats_bind: "127.0.0.1:25081", rate_limit_requests: 1000000}}
"""


def measure(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env, check=False)
        times.append(time.perf_counter() - started)
    return times


def line(label: str, times: list[float], runs: int) -> None:
    print(f"{label:<44} {statistics.median(times):>7.3f}s {min(times):>7.3f}s {max(times):>7.3f}s   ({runs} runs)")


def local_platform(base: list[str], env: dict[str, str]) -> bool:
    """Whether `coursectl -e local status` sees the six services running."""
    done = subprocess.run([*base, "-e", "local", "status", "-o", "json"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=60, check=False)  # fmt: skip
    if done.returncode != 0:
        return False
    running = {s["name"] for s in json.loads(done.stdout)["services"] if s["version"]}
    return set(SIX) <= running


class ProcessPlatform:
    """Six platform services as local processes (process target) behind a real HAProxy edge, in a temp dir."""

    def __init__(self, base: list[str]):
        self.tmp = Path(tempfile.mkdtemp(prefix="coursectl-cli-bench-"))
        services = "\n".join(
            f"  {name}: {{path: platform-services/{name}, port: {25001 + i}}}" for i, name in enumerate(SIX)
        )
        self.config = self.tmp / "coursectl.yaml"
        self.config.write_text(PROCESS_CONFIG.format(services=services, file_sd=self.tmp / "file_sd"))
        for name in SIX:  # the services' paths, relative to the configuration
            (self.tmp / "platform-services").mkdir(exist_ok=True)
            link = self.tmp / "platform-services" / name
            if not link.exists():
                link.symlink_to(REPO / "platform-services" / name)
        inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.env = {
            **inherited,
            "COURSECTL_STATE_DIR": str(self.tmp / "state"),
            "COURSECTL_ACTOR": "bench",
            "COURSECTL_CONFIG": str(self.config),
        }
        self.env.pop("COURSECTL_ENV", None)
        self.base = base

    def up(self) -> None:
        for name in SIX:
            done = subprocess.run([*self.base, "deploy", name, "--version", "v1"], capture_output=True, text=True,
                                  cwd=self.tmp, env=self.env, timeout=300, check=False)  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"deploy {name} failed: {done.stderr[-2000:]}")

    def down(self) -> None:
        from coursectl.adapters.haproxy import HAProxyEdge
        from coursectl.adapters.process_target import ProcessTarget

        state = self.tmp / "state"
        HAProxyEdge(state / "edge" / "bench", services={}).stop()
        ProcessTarget(state / "slots" / "bench", {n: 25001 + i for i, n in enumerate(SIX)}).stop_all()
        shutil.rmtree(self.tmp, ignore_errors=True)


def imports_of(argv_tail: list[str], env: dict[str, str], cwd: Path) -> tuple[int, float]:
    """How many modules a command imports, and their total import time (s), from -X importtime."""
    code = "import sys; from coursectl.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *argv_tail], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120, check=False)  # fmt: skip
    rows = [
        r for r in done.stderr.splitlines() if r.startswith("import time:") and "|" in r and "package" not in r
    ]
    total = sum(int(r.split("|")[0].split(":")[1]) for r in rows) / 1e6
    return len(rows), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--platform", choices=("auto", "local", "processes"), default="auto")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    exe = shutil.which("coursectl", path=str(Path(sys.executable).parent)) or shutil.which("coursectl")
    base = [exe] if exe else [sys.executable, "-m", "coursectl"]
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached (the warm-up run writes it)
    print(f"{'command':<44} {'median':>8} {'min':>8} {'max':>8}")
    kubectl = shutil.which("kubectl")
    if kubectl:
        measure([kubectl, "version", "--client"], 1, env, REPO)
        line(
            "kubectl version --client", measure([kubectl, "version", "--client"], args.runs, env, REPO), args.runs
        )
    else:
        print("kubectl version --client                     (kubectl is not installed here: no peer figure)")
    for label, extra in (("coursectl --version", ["--version"]), ("coursectl --help", ["--help"])):
        measure(base + extra, 1, env, REPO)  # warm the file cache
        line(label, measure(base + extra, args.runs, env, REPO), args.runs)

    platform: ProcessPlatform | None = None
    use_local = args.platform == "local" or (args.platform == "auto" and local_platform(base, env))
    if args.platform == "local" and not local_platform(base, env):
        raise SystemExit("no released local platform answers (bash scripts/main.sh brings one up)")
    try:
        if use_local:
            where, status_env, cwd, status_argv = "the released local platform", env, REPO, ["-e", "local"]
        else:
            platform = ProcessPlatform(base)
            print("(no released local platform answers: status runs against six services started as local"
                  " processes behind a real HAProxy edge)")  # fmt: skip
            platform.up()
            where, status_env, cwd, status_argv = "six local processes", platform.env, platform.tmp, []
        argv = base + [*status_argv, "status", "-o", "json"]
        measure(argv, 1, status_env, cwd)
        line(f"coursectl status -o json ({where})", measure(argv, args.runs, status_env, cwd), args.runs)
        print()
        print("where the time goes (python -X importtime; modules imported, their import time):")
        for label, tail in (("--version", ["--version"]), ("--help", ["--help"]),
                            ("status -o json", [*status_argv, "status", "-o", "json"])):  # fmt: skip
            imports_of(tail, status_env, cwd)  # warm-up (the first run's figures are not representative)
            count, seconds = imports_of(tail, status_env, cwd)
            print(f"  {label:<16} {count:>4} modules  {seconds:.3f}s")
    finally:
        if platform is not None:
            platform.down()


if __name__ == "__main__":
    main()
