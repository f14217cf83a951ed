"""The kubernetes target against the recorded-answers API server (tests/support/kube_server.py): API requests and
wall time of `status` over six services (one list per kind, against the per-service reads it replaces), API
requests of a rollback up to the selector patch, and the peak RSS of a running `coursectl deploy`.

Run: .venv/bin/python benchmarks/k8s.py [--runs N]  (needs ../shared/fixtures/kubernetes beside the repository)
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SERVICES = {
    "user": 8001,
    "course": 8002,
    "payment": 8003,
    "enrollment": 8004,
    "notification": 8005,
    "content": 8006,
}
DIGEST = "sha256:" + "1" * 64
DIGEST2 = "sha256:" + "2" * 64


def config_text(kubeconfig: Path, delay: str = "0s") -> str:
    services = "\n".join(
        f"  {name}: {{path: platform-services/{name}, port: {port}}}" for name, port in SERVICES.items()
    )
    return f"""project: course-platform
default_environment: k
services:
{services}
registry: {{url: registry.local, namespace: course}}
environments:
  k:
    target: kubernetes
    context: fixture
    namespace: course
    strategy: blue-green
    scale_down_delay: {delay}
    ready_timeout: 60s
    kubernetes: {{kubeconfig: {kubeconfig}, replicas: 3, smoke: false}}
"""


def context(folder: Path, text: str, clock: Any = None) -> Any:
    from coursectl.api.rollout import RolloutContext
    from coursectl.config import load_config
    from coursectl.ledger import open_ledger
    from coursectl.wiring import kubernetes_rig

    path = folder / "coursectl.yaml"
    path.write_text(text)
    loaded = load_config(str(path), "k")

    def factory(loaded: Any, _state: Path) -> Any:
        rig = kubernetes_rig(loaded, with_metrics=False)
        if clock is not None:
            rig.clock = rig.target.clock = clock
        return rig

    return RolloutContext(
        loaded=loaded,
        ledger=open_ledger(folder / "state"),
        state_dir=folder / "state",
        actor="bench",
        rig_factory=factory,
    )


def status_figures(runs: int) -> None:
    from coursectl.api import rollout as api
    from tests.support.kube_server import KubeFixtureServer

    server = KubeFixtureServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        text = config_text(server.kubeconfig(folder / "kubeconfig"))
        ctx = context(folder, text)
        for name in SERVICES:
            api.deploy(ctx, name, version="1.0.0", digest=DIGEST)
        server.settle()
        rows = []
        for label, batched in (("status (one list per kind)", True), ("per-service reads (the peer)", False)):
            times, counts = [], []
            for _ in range(runs):
                ctx = context(folder, text)
                rig = ctx.rig(with_metrics=False)
                if not batched:
                    rig.snapshot = None
                start = len(server.requests)
                began = time.perf_counter()
                data = api.status(ctx)
                times.append(time.perf_counter() - began)
                counts.append(len(server.requests) - start)
                assert all(s["version"] == "1.0.0" for s in data["services"]), data
            kinds = sorted({(r.verb, r.resource) for r in server.requests[-counts[-1] :]})
            rows.append((label, statistics.median(counts), statistics.median(times), kinds))
    server.stop()
    print(f"status of {len(SERVICES)} services ({runs} runs, medians)")
    for label, count, wall, kinds in rows:
        what = ", ".join(f"{v} {r}" for v, r in kinds)
        print(f"  {label:<32} {count:>3.0f} requests  {wall * 1000:>7.1f} ms   ({what})")


def rollback_figures() -> None:
    from coursectl.api import rollout as api
    from coursectl.testing.fakes import FrozenClock
    from tests.support.kube_server import KubeFixtureServer

    print("rollback of one service: API requests from the command's start to the Service selector patch")
    for label, warm in (("while the old colour is warm", True), ("after it was scaled to zero", False)):
        server = KubeFixtureServer().start()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            clock = FrozenClock()
            text = config_text(server.kubeconfig(folder / "kubeconfig"), delay="1h" if warm else "0s")
            api.deploy(context(folder, text, clock), "course", version="1.0.0", digest=DIGEST)
            if warm:

                def die(t: float) -> None:
                    if t > 5:
                        raise KeyboardInterrupt

                clock.on_sleep.append(die)
            try:
                api.deploy(context(folder, text, clock), "course", version="1.1.0", digest=DIGEST2)
            except KeyboardInterrupt:
                pass
            clock.on_sleep.clear()
            server.settle()
            start = len(server.requests)
            api.rollback(context(folder, text, clock), "course")
            sent = server.requests[start:]
            first = next(
                i
                for i, r in enumerate(sent)
                if r.method == "PATCH" and r.resource == "services" and r.name == "course"
            )
            before = sent[:first]
            reads = ", ".join(f"{r.verb} {r.resource}" for r in before) or "none"
            writes = [f"{r.method} {r.resource}/{r.name}" for r in before if r.method != "GET"]
            print(
                f"  {label:<32} {first + 1:>2} requests: {reads}, then the patch"
                + (f" (writes before it: {', '.join(writes)})" if writes else "")
            )
        server.stop()


def peak_rss(argv: list[str], env: dict[str, str]) -> tuple[int, float]:
    """Exit code and peak RSS (MB) of a command: the high-water mark (VmHWM) of its own memory after exec, read
    from /proc while it runs (ru_maxrss would include the copy of this benchmark the child was forked from)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    while proc.poll() is None:
        try:
            if b"coursectl" in cmdline.read_bytes():  # exec'd: its own memory from here on
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.002)
    return proc.returncode, peak / 1024


def rss_figures() -> None:
    from tests.support.kube_server import KubeFixtureServer

    exe = shutil.which("coursectl", path=str(Path(sys.executable).parent)) or "coursectl"
    server = KubeFixtureServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "coursectl.yaml").write_text(config_text(server.kubeconfig(folder / "kubeconfig")))
        env = {
            **os.environ,
            "COURSECTL_CONFIG": str(folder / "coursectl.yaml"),
            "COURSECTL_STATE_DIR": str(folder / "state"),
        }
        rows = []
        for label, argv in (
            ("coursectl --version (the floor)", [exe, "--version"]),
            ("coursectl status", [exe, "status", "--env", "k"]),
            (
                "coursectl deploy (blue-green)",
                [exe, "deploy", "course", "--env", "k", "--version", "1.0.0", "--digest", DIGEST],
            ),
        ):
            rows.append((label, *peak_rss(argv, env)))
        print("peak RSS of the command's process")
        for label, code, mb in rows:
            print(f"  {label:<34} exit {code}  {mb:>6.1f} MB")
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    status_figures(args.runs)
    rollback_figures()
    rss_figures()
    print(json.dumps({"fixtures": "shared/fixtures/kubernetes", "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
