"""The one place that knows which adapters an environment uses: configuration → Target, router, metrics."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from coursectl.domain import utcnow
from coursectl.errors import PreconditionError


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Rig:
    """The adapters of one environment."""

    target: Any
    router: Any
    metrics: Any
    clock: Any
    edge_url: str


def _sandbox(state_dir: Path) -> Any:
    try:
        from coursectl.sandbox import Sandbox  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        return Sandbox(state_dir)
    except Exception:  # an older or half-built sandbox: fall back to the configuration's defaults
        return None


def service_ports(config: Any, env: Any) -> dict[str, int]:
    return {name: svc.port + env.port_offset for name, svc in config.services.items()}


def build_rig(loaded: Any, state_dir: Path, *, with_metrics: bool = True) -> Rig:
    """Adapters for the selected environment of ``loaded`` (a LoadedConfig)."""
    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    if env.target == "kubernetes":
        raise PreconditionError(
            f"environment {env_name} uses the kubernetes target, which this coursectl cannot roll out to yet",
            hint="use a docker or process environment",
        )
    from coursectl.adapters.haproxy import HAProxyEdge

    sandbox = _sandbox(state_dir)
    ports = service_ports(config, env)
    edge = HAProxyEdge(
        state_dir / "edge" / env_name,
        services={name: svc.health for name, svc in config.services.items()},
        bind=env.edge.bind,
        stats_bind=env.edge.stats_bind,
        rate_limit_requests=env.edge.rate_limit_requests,
        rate_limit_period=env.edge.rate_limit_period,
    )
    file_sd = Path(env.file_sd_dir) if env.file_sd_dir else (
        Path(sandbox.file_sd_dir()) if sandbox is not None else state_dir / "prometheus" / "file_sd")
    if env.target == "process":
        from coursectl.testing.process_target import ProcessTarget

        command = [sys.executable, "-m", "coursectl.testing.tinyservice"]
        target: Any = ProcessTarget(state_dir / "slots" / env_name, ports, command=env.process_command or command,
                                    environment=env_name, file_sd_dir=file_sd)
    else:
        from coursectl.adapters.docker_target import DockerTarget

        docker_host = env.docker_host or (sandbox.docker_host() if sandbox is not None else None)
        target = DockerTarget(environment=env_name, ports=ports, docker_host=docker_host, file_sd_dir=file_sd)
    metrics = None
    if with_metrics:
        from coursectl.adapters.prometheus import PrometheusMetrics

        url = env.prometheus_url or (
            sandbox.prometheus_url() if sandbox is not None else f"http://127.0.0.1:{config.sandbox.prometheus_port}")
        metrics = PrometheusMetrics(url)
    return Rig(target=target, router=edge, metrics=metrics, clock=SystemClock(), edge_url=edge.url)
