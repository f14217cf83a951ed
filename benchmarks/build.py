"""Benchmark of `coursectl build`: cold build of all six, no-change --changed-only, and a plain docker build loop.

Run as root from the repository (it starts its own sandbox on free loopback ports and stops it at the end):

    PYTHONPATH=. python benchmarks/build.py [--rounds 3] [--keep]

Figures printed, one run:
  cold      `coursectl build --push` of the six services on a fresh engine (pip downloads included)
  no-change `coursectl build --changed-only --push` right after (median of --rounds)
  loop      `docker build` (classic builder, the same engine and cache) over the same six contexts, one
            after the other, with the release build arguments the Dockerfiles document (version, git sha,
            a fresh BUILD_TIME) — the peer a pipeline without coursectl runs (median of --rounds)
  cached    the same loop with identical arguments every time, fully cached (median of --rounds): the
            floor of `docker build` itself, shown for honesty
  ratio     no-change / loop; done-when: < 0.10
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("user", "course", "payment", "enrollment", "notification", "content")
PORTS = {"user": 8001, "course": 8002, "payment": 8003, "enrollment": 8004, "notification": 8005, "content": 8006}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(argv: list[str], *, cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - started
    if done.returncode not in ok:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"{' '.join(argv[:4])} failed with exit {done.returncode}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the sandbox and the clone (prints where)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from coursectl.sandbox import Sandbox, SandboxSettings

    work = Path(tempfile.mkdtemp(prefix="coursectl-bench-"))
    state = work / "state"
    cache = Path(os.environ.get("COURSECTL_TEST_CACHE", REPO / ".state" / "cache"))
    sandbox = Sandbox(state, SandboxSettings(registry_port=free_port(), prometheus_port=free_port(), cache_dir=cache))
    os.environ.pop("DOCKER_HOST", None)
    try:
        sandbox.up()
        creds = sandbox.credentials()
        assert creds is not None
        registry = sandbox.registry_address()
        host = sandbox.docker_host()

        repo = work / "repo"
        subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
        config = repo / "coursectl.yaml"
        config.write_text(config.read_text().replace("url: 127.0.0.1:5000", f"url: {registry}"))
        for key, value in (("user.email", "bench@example.invalid"), ("user.name", "bench")):
            subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
        subprocess.run(["git", "-C", str(repo), "commit", "-qam", "bench: sandbox registry"], check=True)

        env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSECTL_", "DOCKER_", "BUILD_"))}
        env.update(COURSECTL_STATE_DIR=str(state), PYTHONPATH=str(REPO), REGISTRY_USER=creds.username,
                   REGISTRY_PASSWORD=creds.password)  # fmt: skip
        cli = [sys.executable, "-m", "coursectl", "-q"]

        cold = timed([*cli, "build", "--push"], cwd=repo, env=env)
        nochange = [timed([*cli, "build", "--changed-only", "--push"], cwd=repo, env=env) for _ in range(args.rounds)]

        docker = shutil.which("docker")
        if docker is None:
            raise SystemExit("the docker CLI is needed for the plain docker build loop")
        denv = dict(env, DOCKER_HOST=host, DOCKER_BUILDKIT="0")
        base = "coursectl/base:bookworm"
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                             text=True).stdout.strip()  # fmt: skip

        def loop(metadata: bool) -> float:
            """Six `docker build`s; with ``metadata`` the release build arguments of the Dockerfiles' own
            instructions (version, sha, a fresh BUILD_TIME), as a pipeline without coursectl passes them."""
            extra: list[str] = []
            if metadata:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                extra = ["--build-arg", f"APP_VERSION={sha[:12]}", "--build-arg", f"GIT_SHA={sha}",
                         "--build-arg", f"BUILD_TIME={stamp}"]  # fmt: skip
            started = time.perf_counter()
            for svc in SERVICES:
                timed([docker, "build", "-q", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", *extra,
                       "--build-arg", f"SERVICE={svc}", "--build-arg", f"SERVICE_PORT={PORTS[svc]}",
                       "-f", "platform-services/python-service.Dockerfile", "-t", f"bench/{svc}:loop",
                       "platform-services"], cwd=repo, env=denv)  # fmt: skip
            return time.perf_counter() - started

        loops = []
        for _ in range(args.rounds):
            time.sleep(1.0)  # a new second: a new BUILD_TIME, as every pipeline run has
            loops.append(loop(metadata=True))
        loop(metadata=False)  # warm the cache for identical arguments
        cached = [loop(metadata=False) for _ in range(args.rounds)]
        nc, peer, same = statistics.median(nochange), statistics.median(loops), statistics.median(cached)
        ratio = nc / peer
        result = {
            "cold_build_push_s": round(cold, 2),
            "nochange_changed_only_push_s": [round(x, 3) for x in nochange],
            "nochange_median_s": round(nc, 3),
            "docker_build_loop_s": [round(x, 2) for x in loops],
            "docker_build_loop_median_s": round(peer, 2),
            "docker_build_loop_identical_args_s": [round(x, 3) for x in cached],
            "ratio": round(ratio, 4),
            "ratio_vs_identical_args_loop": round(nc / same, 3),
            "done_when_ratio_below_0.10": ratio < 0.10,
            "cpus": os.cpu_count(),
        }
        print(f"cold build --push of six:                 {cold:8.2f} s")
        print(f"no-change --changed-only --push:          {nc:8.3f} s  (median of {args.rounds}: "
              f"{', '.join(f'{x:.3f}' for x in nochange)})")
        print(f"docker build loop, release build args:    {peer:8.2f} s  (median of {args.rounds}: "
              f"{', '.join(f'{x:.2f}' for x in loops)})")
        print(f"docker build loop, identical args, cached:{same:8.3f} s  (median of {args.rounds}: "
              f"{', '.join(f'{x:.3f}' for x in cached)})")
        print(f"ratio no-change / release loop:           {ratio:8.4f}  ({'<' if ratio < 0.10 else '>='} 0.10)")
        print(f"ratio no-change / identical-args loop:    {nc / same:8.3f}")
        print(json.dumps(result))
        return 0 if ratio < 0.10 else 1
    finally:
        if args.keep:
            print(f"kept: {work} (stop with: COURSECTL_STATE_DIR={state} coursectl sandbox down)")
        else:
            sandbox.down()
            with open("/proc/mounts", encoding="utf-8") as fh:
                points = [line.split()[1] for line in fh if line.split()[1].startswith(str(work))]
            for point in sorted(points, reverse=True):
                subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
