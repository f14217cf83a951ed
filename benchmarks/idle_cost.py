"""CPU an idle released platform uses: the six services of one environment on the docker target, with the HAProxy
edge and Prometheus, per minute of no traffic at all — and the same six containers with the old health check
(`python3 -m course_common.healthcheck` every 10 s, which imports FastAPI), measured in the same run.

It brings the sandbox up in its own state directory (.state/bench-idle; the sandbox's ports from coursectl.yaml),
builds and pushes the six Python services and deploys them to `local` (or reuses them when they already run),
waits for the platform to settle, then reads the CPU time used over --windows windows of --seconds each:
the containers from their cgroups' CPU accounting (which counts every health check Docker runs inside them),
the edge and Prometheus from /proc (user + system time). The engine's own processes (dockerd, containerd, the
shims), what the shims reap (each check's `runc exec`, and the checks themselves, which the containers count
already) and the sandbox's other daemons are printed beside, not in the goal. Then the six containers are re-created with the old HEALTHCHECK and measured alike, and put
back. The sandbox is stopped at the end unless --keep. Heavy: run it under the machine lock,

    flock -o /tmp/coursectl-heavy.lock .venv/bin/python benchmarks/idle_cost.py [--windows 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIX = ("user", "course", "payment", "enrollment", "notification", "content")
OLD_HEALTHCHECK = {  # the HEALTHCHECK line of the images before issue 18
    "test": ["CMD", "python3", "-m", "course_common.healthcheck"],
    "interval": 10 * 10**9,
    "timeout": 5 * 10**9,
    "start_period": 20 * 10**9,
    "retries": 3,
}
TICK = os.sysconf("SC_CLK_TCK")
GOAL = 2.0  # % of one core, six services with the edge and Prometheus


def say(message: str) -> None:
    print(f"[idle] {message}", file=sys.stderr, flush=True)


# CPU counters ----------------------------------------------------------------------------------------------


def proc_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (with ``children``: also of its reaped children: runc execs)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICK


def cgroup_seconds(pid: int) -> float:
    """CPU seconds of the cgroup holding ``pid`` (cgroup v1 cpuacct, or v2 cpu.stat)."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            for root in (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/cpu,cpuacct")):
                usage = root / path.lstrip("/") / "cpuacct.usage"
                if usage.exists():
                    return int(usage.read_text()) / 1e9
    for line in lines:
        if line.startswith("0::"):
            stat = Path("/sys/fs/cgroup") / line[3:].lstrip("/") / "cpu.stat"
            for row in stat.read_text().splitlines():
                if row.startswith("usage_usec"):
                    return int(row.split()[1]) / 1e6
    raise RuntimeError(f"no CPU accounting found for the cgroup of pid {pid}")


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


# the platform ----------------------------------------------------------------------------------------------


class Platform:
    def __init__(self, state_dir: Path):
        from coursectl.config import load_config
        from coursectl.sandbox import Sandbox, SandboxSettings

        self.state_dir = state_dir
        self.loaded = load_config(REPO / "coursectl.yaml", "local")
        cfg = self.loaded.config.sandbox
        cache = os.environ.get("COURSECTL_TEST_CACHE_DIR")
        self.box = Sandbox(
            state_dir,
            SandboxSettings(
                registry_port=cfg.registry_port,
                prometheus_port=cfg.prometheus_port,
                base_image=cfg.base_image,
                alertmanager_port=cfg.alertmanager_port,
                blackbox_port=cfg.blackbox_port,
                node_exporter_port=cfg.node_exporter_port,
                receiver_port=cfg.receiver_port,
                cache_dir=Path(cache) if cache else None,
            ),
        )
        self.env = {**os.environ, "COURSECTL_STATE_DIR": str(state_dir), "COURSECTL_ACTOR": "bench-idle"}
        self.env.pop("COURSECTL_ENV", None)
        self._client: Any = None

    def coursectl(self, *args: str, timeout: float = 3600) -> None:
        argv = [sys.executable, "-m", "coursectl", "-c", str(REPO / "coursectl.yaml"), *args]
        say("coursectl " + " ".join(args))
        done = subprocess.run(argv, cwd=REPO, env=self.env, timeout=timeout, check=False)
        if done.returncode != 0:
            raise SystemExit(f"coursectl {' '.join(args)} failed (exit {done.returncode})")

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.box.docker_host(), timeout=300)
        return self._client

    def containers(self) -> dict[str, Any]:
        """service → its live container (the one the edge routes to: the only one of an idle platform)."""
        found = self.client.containers.list(filters={"label": ["coursectl.environment=local"]})
        out = {}
        for c in found:
            service = c.labels.get("coursectl.service")
            if service in SIX:
                out[service] = c
        return out

    def up(self) -> None:
        began = time.monotonic()
        self.box.up(progress=say)
        if set(self.containers()) >= set(SIX):
            say("the six services already run: reused")
            return
        self.coursectl("build", *SIX, "--push", "--env", "local")
        self.coursectl("deploy", *SIX, "--env", "local", "--yes")
        say(f"released in {time.monotonic() - began:.0f} s")

    def pids(self) -> dict[str, list[int]]:
        """The processes measured from /proc, by group."""
        from coursectl.sandbox.manifest import Manifest

        manifest = Manifest.load(self.state_dir / "sandbox" / "sandbox.json")
        by_name = {name: e.pid for name, e in manifest.entries.items() if e.pid}
        edge_pidfile = self.state_dir / "edge" / "local" / "haproxy.pid"
        master = int(edge_pidfile.read_text().split()[0])
        edge = [master] + [p for p in all_pids() if parent(p) == master]
        needles = self.box.engine_paths.needles()
        engine = [p for p in all_pids() if any(n in cmdline(p) for n in needles)]
        others = [pid for name, pid in by_name.items() if name not in ("prometheus", "engine") and pid is not None]
        return {
            "edge": edge,
            "prometheus": [by_name["prometheus"]] if by_name.get("prometheus") else [],
            "engine": engine,
            "other sandbox daemons": others,
        }

    def recreate(self, container: Any, healthcheck: dict[str, Any] | None) -> Any:
        """The same container (image, environment, labels, mounts, host network) with another health check;
        None: the image's own HEALTHCHECK."""
        attrs = container.attrs
        config, host = attrs["Config"], attrs["HostConfig"]
        name = attrs["Name"].lstrip("/")
        container.remove(force=True)
        kwargs: dict[str, Any] = {
            "name": name,
            "detach": True,
            "network_mode": "host",
            "environment": config.get("Env") or [],
            "labels": config.get("Labels") or {},
            "restart_policy": host.get("RestartPolicy") or {"Name": "unless-stopped"},
        }
        if host.get("Binds"):
            kwargs["volumes"] = host["Binds"]
        if healthcheck is not None:
            kwargs["healthcheck"] = healthcheck
        return self.client.containers.run(config["Image"], **kwargs)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        for service, c in self.containers().items():
            env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
            url = f"http://127.0.0.1:{env['PORT']}{env.get('HEALTH_PATH', '/health/ready')}"
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{service} is not ready again at {url}")
                time.sleep(0.5)

    # what benchmarks/rollback_latency.py needs of a platform ---------------------------------------------

    @property
    def state(self) -> Path:
        return self.state_dir

    @property
    def tmp(self) -> Path:
        return REPO

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "coursectl", "-c", str(REPO / "coursectl.yaml"), "-e", "local", *args]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, cwd=REPO, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def rollback_rounds(platform: Platform, rounds: int) -> None:
    """benchmarks/rollback_latency.py's rounds on the docker target: a new release of course (another
    environment: a blue-green deploy keeping the old container warm 30 s) rolled back, handing off vs waiting."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import rollback_latency as rl

    figures: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for n in range(1, rounds + 1):
        for wait in (False, True):
            figures[wait].append(rl.one_round(platform, ["--set-env", f"BENCH_ROUND={n}{int(wait)}"], wait=wait))
            say(f"rollback round {n} {'waiting' if wait else 'handing off'}: {figures[wait][-1]}")
    print(
        f"rollback on the docker target (course, blue-green, a rollout in its scale-down delay), {rounds} rounds:"
    )
    rl.summarize(figures)


# measuring -------------------------------------------------------------------------------------------------


def per_check(runs: int) -> None:
    """CPU of one health check run here (this interpreter, nothing listening: the same imports), old vs new."""
    import resource

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PORT="1", HEALTHCHECK_TIMEOUT="1")

    def cpu(argv: list[str]) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    print(f"one health check, CPU (user + system) here, median of {runs}:")
    for label, argv, every in (
        ("old: python3 -m course_common.healthcheck", [sys.executable, "-m", "course_common.healthcheck"], 10),
        ("new: python3 -m course_healthcheck", [sys.executable, "-m", "course_healthcheck"], 30),
        ("(python3 -c pass)", [sys.executable, "-c", "pass"], 0),
    ):
        cpu(argv)
        took = statistics.median(cpu(argv) for _ in range(runs))
        share = f"; every {every} s in six containers: {6 * took / every * 100:.2f} % of a core" if every else ""
        print(f"  {label:<44} {took * 1000:7.1f} ms{share}")


def counters(platform: Platform) -> dict[str, float]:
    out: dict[str, float] = {}
    for service, c in platform.containers().items():
        c.reload()
        out[f"container {service}"] = cgroup_seconds(int(c.attrs["State"]["Pid"]))
    for group, pids in platform.pids().items():
        out[group] = sum(proc_seconds(pid) for pid in pids)
        if group == "engine":  # what the shims reaped: `runc exec` — and the checks' own processes, which their
            # containers' cgroups count already: shown apart, never added to anything
            out["engine's reaped children"] = sum(proc_seconds(pid, children=True) for pid in pids) - out[group]
    return out


def measure(platform: Platform, windows: int, seconds: float) -> list[dict[str, float]]:
    """Per window: % of one core per component."""
    results = []
    for n in range(1, windows + 1):
        before, t0 = counters(platform), time.monotonic()
        time.sleep(seconds)
        after, t1 = counters(platform), time.monotonic()
        window = {k: (after[k] - before.get(k, after[k])) / (t1 - t0) * 100 for k in after}
        results.append(window)
        say(f"window {n}/{windows}: goal part {goal_part(window):.2f} % of a core")
    return results


def goal_part(window: dict[str, float]) -> float:
    return sum(v for k, v in window.items() if k.startswith("container ") or k in ("edge", "prometheus"))


def median_of(windows: list[dict[str, float]], pick: Callable[[dict[str, float]], float]) -> float:
    return statistics.median(pick(w) for w in windows)


def report(label: str, windows: list[dict[str, float]]) -> float:
    containers = median_of(windows, lambda w: sum(v for k, v in w.items() if k.startswith("container ")))
    total = median_of(windows, goal_part)
    print(f"{label}")
    print(f"  six containers        {containers:6.2f} % of a core")
    for key in ("edge", "prometheus"):
        print(f"  {key:<21} {median_of(windows, lambda w, k=key: w.get(k, 0.0)):6.2f} %")
    print(f"  = six services, edge and Prometheus: {total:.2f} % of one core"
          f" ({total * 0.6:.2f} CPU-seconds a minute; goal < {GOAL} %)")  # fmt: skip
    for key in ("engine", "engine's reaped children", "other sandbox daemons"):
        print(f"  beside: {key:<26} {median_of(windows, lambda w, k=key: w.get(k, 0.0)):6.2f} %")
    per = {k.removeprefix("container "): median_of(windows, lambda w, k=k: w[k]) for k in windows[0]
           if k.startswith("container ")}  # fmt: skip
    print("  per container: " + ", ".join(f"{k} {v:.2f} %" for k, v in sorted(per.items())))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=30.0, help="quiet seconds before measuring")
    parser.add_argument("--state-dir", type=Path, default=REPO / ".state" / "bench-idle")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox and the platform running")
    parser.add_argument("--per-check-only", action="store_true", help="only the CPU of one check (no platform)")
    parser.add_argument(
        "--rollback-rounds", type=int, default=0, help="then time rollbacks of course here (rollback_latency.py)"
    )
    parser.add_argument("--rollback-only", action="store_true", help="no idle windows: only the rollback rounds")
    args = parser.parse_args()
    per_check(15)
    if args.per_check_only:
        return
    platform = Platform(args.state_dir.resolve())
    try:
        platform.up()
        if args.rollback_only:
            rollback_rounds(platform, args.rollback_rounds or 3)
            return
        say(f"settling {args.settle:.0f} s")
        time.sleep(args.settle)
        print(f"idle platform: {args.windows} windows of {args.seconds:.0f} s each, medians (% of one core)")
        new = report("this image's health check (python3 -m course_healthcheck, every 30 s)",
                     measure(platform, args.windows, args.seconds))  # fmt: skip
        say("re-creating the six containers with the old HEALTHCHECK")
        for c in platform.containers().values():
            platform.recreate(c, OLD_HEALTHCHECK)
        platform.wait_ready()
        time.sleep(args.settle)
        old = report("the old health check (python3 -m course_common.healthcheck, every 10 s), same run",
                     measure(platform, args.windows, args.seconds))  # fmt: skip
        print(json.dumps({"new_percent_of_a_core": round(new, 3), "old_percent_of_a_core": round(old, 3),
                          "goal_percent": GOAL, "windows": args.windows, "seconds": args.seconds}))  # fmt: skip
        say("putting the image's own health check back")
        for c in platform.containers().values():
            platform.recreate(c, None)
        platform.wait_ready()
        if args.rollback_rounds:
            rollback_rounds(platform, args.rollback_rounds)
    finally:
        if not args.keep:
            say("stopping the platform and the sandbox")
            stop(platform)


def stop(platform: Platform) -> None:
    from coursectl.wiring import stop_edges

    try:
        for c in platform.client.containers.list(all=True, filters={"label": ["coursectl.environment=local"]}):
            c.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - the sandbox goes down below either way
        say(f"could not remove the containers: {exc}")
    stop_edges(platform.state_dir)
    platform.box.down()


if __name__ == "__main__":
    main()
