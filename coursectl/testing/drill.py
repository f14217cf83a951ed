"""Rollout drills through the real command line: a private config, state dir and free ports, local slot
processes behind a real HAProxy edge. Used by the integration tests and the benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout (coursectl/testing/drill.py)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_base() -> int:
    """A service port whose +100/+200 slot ports are free too."""
    for _ in range(200):
        base = free_port() % 20000 + 30000
        ok = True
        for offset in (100, 200):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", base + offset))
                except OSError:
                    ok = False
        if ok:
            return base
    raise RuntimeError("no free ports")


CONFIG = """project: drill
default_environment: drill
services:
  course: {{path: platform-services/course, port: {base}}}
registry: {{url: 127.0.0.1:5000}}
scan: {{skip_missing: true}}
analysis:
  interval: {interval}s
  failure_limit: 1
  inconclusive_limit: 2
  compare_with_stable: true{observe}
  metrics:
    - {{name: error-rate, max: 0.01}}
    - {{name: latency-p95, max: 0.5}}
environments:
  drill:
    target: process
    strategy: blue-green
    scale_down_delay: {delay}s
    file_sd_dir: {file_sd}
    prometheus_url: {prom}
    edge: {{bind: "127.0.0.1:{edge}", stats_bind: "127.0.0.1:{stats}", rate_limit_requests: 1000000}}
  canary:
    target: process
    strategy: canary
    steps: [{{weight: 30, pause: {pause}s}}, {{weight: 60, pause: {pause}s}}]
    file_sd_dir: {file_sd}
    prometheus_url: {prom}
    edge: {{bind: "127.0.0.1:{edge}", stats_bind: "127.0.0.1:{stats}", rate_limit_requests: 1000000}}
"""


class Drill:
    def __init__(
        self,
        tmp: Path,
        *,
        prom_url: str = "http://127.0.0.1:1",
        file_sd: Path | None = None,
        interval: float = 2,
        delay: float = 3,
        pause: float = 6,
        observe: float | None = None,
    ):
        self.tmp = tmp
        self.base = free_base()
        self.edge_port, self.stats_port = free_port(), free_port()
        self.config = tmp / "coursectl.yaml"
        self.config.write_text(
            CONFIG.format(
                base=self.base,
                interval=interval,
                delay=delay,
                pause=pause,
                observe=f"\n  observe_timeout: {observe}s" if observe else "",
                file_sd=file_sd or tmp / "file_sd",
                prom=prom_url,
                edge=self.edge_port,
                stats=self.stats_port,
            )
        )
        self.state = tmp / "state"
        self.env = {
            **os.environ,
            "COURSECTL_STATE_DIR": str(self.state),
            "COURSECTL_CONFIG": str(self.config),
            "PYTHONPATH": str(REPO),
            "COURSECTL_ACTOR": "drill",
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}/api/course/courses"

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "coursectl", *args]

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.tmp
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """A background coursectl; its stderr goes to ``<tmp>/<pid>.err`` (read with ``stderr_of``)."""
        self._n = getattr(self, "_n", 0) + 1
        path = self.tmp / f"bg{self._n}.err"
        with open(path, "w") as err:
            proc = subprocess.Popen(
                self.argv(*args), env=self.env, stdout=subprocess.DEVNULL, stderr=err, text=True, cwd=self.tmp
            )
        proc.err_path = path  # type: ignore[attr-defined]
        return proc

    @staticmethod
    def stderr_of(proc: subprocess.Popen[str]) -> str:
        return proc.err_path.read_text()  # type: ignore[attr-defined,no-any-return]

    def cleanup(self) -> None:
        from coursectl.adapters.haproxy import HAProxyEdge
        from coursectl.adapters.process_target import ProcessTarget

        for env in ("drill", "canary"):
            HAProxyEdge(self.state / "edge" / env, services={}).stop()
            ProcessTarget(self.state / "slots" / env, {"course": self.base}).stop_all()


def seconds_to_stable(state_dir: Path, environment: str, service: str) -> float | None:
    """How long the newest rollout's new slot had users: from its first weighted traffic (``traffic_since``)
    to the end of the abort's "weight 0" step (everything back on stable); None when it was not aborted."""
    from datetime import datetime

    from coursectl.ledger import SqliteLedger
    from coursectl.rollout.store import RolloutStore

    ledger = SqliteLedger(state_dir / "ledger.db")
    try:
        state = RolloutStore(ledger).latest(environment, service)
        if state is None or not state.traffic_since or state.phase != "aborted":
            return None
        steps = ledger.events(service=service, environment=environment, kinds=["rollout.step"], limit=500)
        back = [
            e.time
            for e in steps
            if e.details.get("rollout_id") == state.id
            and e.outcome == "done"
            and e.details.get("phase") == "aborting"
            and (e.details.get("step") or {}).get("weight") == 0
        ]
        if not back:
            return None
        since = datetime.fromisoformat(state.traffic_since.replace("Z", "+00:00"))
        return (min(back) - since).total_seconds()
    finally:
        ledger.close()
