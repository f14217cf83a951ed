"""Configuration → concrete adapters → use cases: the one module that knows which adapters are used."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.domain import utcnow

if TYPE_CHECKING:
    from coursectl.adapters.docker_engine import DockerEngine
    from coursectl.api.build import ImageService, RegistryAccess
    from coursectl.config import LoadedConfig
    from coursectl.ports import Registry


def sandbox_docker_host(state_dir: Path) -> str | None:
    """The engine ``coursectl sandbox up`` started or found, when there is a sandbox in ``state_dir``."""
    try:
        from coursectl.sandbox import Sandbox
    except ImportError:  # pragma: no cover - a build without the sandbox package
        return None
    manifest = state_dir / "sandbox" / "sandbox.json"
    if not manifest.is_file():
        return None
    url: str = Sandbox(state_dir).docker_host()
    return url


def docker_host(
    loaded: LoadedConfig, state_dir: Path, environ: Mapping[str, str] | None = None
) -> str | None:
    """The engine to build with: the environment's ``docker_host``, else DOCKER_HOST, else the sandbox's,
    else None (the docker SDK's default socket)."""
    env = os.environ if environ is None else environ
    if loaded.env_name:
        configured = loaded.config.environments[loaded.env_name].docker_host
        if configured:
            return str(configured)
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    return sandbox_docker_host(state_dir)


def docker_engine(loaded: LoadedConfig, state_dir: Path, environ: Mapping[str, str] | None = None) -> DockerEngine:
    from coursectl.adapters.docker_engine import DockerEngine

    return DockerEngine(docker_host(loaded, state_dir, environ), timeout=min(600.0, loaded.config.build.timeout))


def registry_access(config: Any, state_dir: Path, environ: Mapping[str, str] | None = None) -> RegistryAccess:
    """Where to push and with which credentials: env/file references (v2) or an ECR token (ecr)."""
    from coursectl.api.build import RegistryAccess

    reg = config.registry
    if reg.kind == "ecr":
        from coursectl.adapters import ecr

        login = ecr.login(reg.region, reg.url)
        return RegistryAccess(reg.url, reg.namespace, login.username, login.password)
    secrets_file = state_dir / "secrets.env"
    user = reg.username.resolve(environ=environ, secrets_file=secrets_file) if reg.username else None
    password = reg.password.resolve(environ=environ, secrets_file=secrets_file) if reg.password else None
    return RegistryAccess(reg.url, reg.namespace, user, password)


def registry_client(config: Any, access: RegistryAccess) -> Registry:
    from coursectl.adapters.registry_v2 import RegistryClient

    return RegistryClient(
        access.url, username=access.username, password=access.password, insecure=config.registry.insecure
    )


def image_service(
    loaded: LoadedConfig,
    *,
    state_dir: Path,
    ledger: Any,
    environ: Mapping[str, str] | None = None,
    builder: Any = None,
) -> ImageService:
    """The build/push/images use cases wired to the docker engine, the registry and git."""
    from coursectl.adapters import git
    from coursectl.api.build import ImageService
    from coursectl.render.image import source_url

    env = dict(os.environ if environ is None else environ)
    config = loaded.config

    def factory() -> tuple[RegistryAccess, Registry]:
        access = registry_access(config, state_dir, env)
        client = registry_client(config, access)
        client.ping()
        return access, client

    root = loaded.root
    return ImageService(
        config=config,
        root=root,
        builder=builder or docker_engine(loaded, state_dir, env),
        registry_factory=factory,
        ledger=ledger,
        git_reader=git.state,
        environ=env,
        source=source_url(git.remote_url(root), fallback=config.project),
    )


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
    # kubernetes (the docker and process targets leave the defaults):
    snapshot: Callable[[Sequence[str]], dict[str, tuple[list[Any], dict[str, int]]]] | None = None
    probe_slots: bool = True  # status GETs each slot's health path (False: the target's readiness is read)
    service_urls: dict[str, str] | None = None  # <SERVICE>_URL of the slots (default: the edge)
    in_place: tuple[str, ...] = ()  # strategies the target runs by updating the live slot itself


def _sandbox(state_dir: Path, config: Any = None) -> Any:
    """The sandbox of ``state_dir`` (with the configuration's ports) when one was brought up there, else None."""
    try:
        from coursectl.sandbox import Sandbox, SandboxSettings
    except ImportError:  # pragma: no cover - a build without the sandbox package
        return None
    if not (state_dir / "sandbox" / "sandbox.json").is_file():
        return None
    try:
        if config is None:
            return Sandbox(state_dir)
        cfg = config.sandbox
        return Sandbox(state_dir, SandboxSettings(registry_port=cfg.registry_port,
                                                  prometheus_port=cfg.prometheus_port, base_image=cfg.base_image))
    except Exception:  # a half-built sandbox: fall back to the configuration's defaults
        return None


def service_ports(config: Any, env: Any) -> dict[str, int]:
    return {name: svc.port + env.port_offset for name, svc in config.services.items()}


def build_rig(loaded: Any, state_dir: Path, *, with_metrics: bool = True, kubeconfig: str | None = None) -> Rig:
    """Adapters for the selected environment of ``loaded`` (a LoadedConfig)."""
    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    if env.target == "kubernetes":
        return kubernetes_rig(loaded, with_metrics=with_metrics, kubeconfig=kubeconfig)
    from coursectl.adapters.haproxy import HAProxyEdge

    sandbox = _sandbox(state_dir, config)
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

        access = None
        if with_metrics:  # not for `status`, which must answer with the registry (or ECR) unreachable
            try:
                access = registry_access(config, state_dir).auth_config()
            except Exception:  # no credentials: pulls of public or local images still work
                access = None
        target = DockerTarget(environment=env_name, ports=ports, docker_host=docker_host(loaded, state_dir),
                              file_sd_dir=file_sd, registry_auth=access, data_dir=state_dir / "data" / env_name)
    metrics = None
    if with_metrics:
        from coursectl.adapters.prometheus import PrometheusMetrics

        url = env.prometheus_url or (
            sandbox.prometheus_url() if sandbox is not None else f"http://127.0.0.1:{config.sandbox.prometheus_port}")
        metrics = PrometheusMetrics(url)
    return Rig(target=target, router=edge, metrics=metrics, clock=SystemClock(), edge_url=edge.url)


# kubernetes ----------------------------------------------------------------------------------------------


def kube_api(loaded: Any, *, kubeconfig: str | None = None, environ: Mapping[str, str] | None = None) -> Any:
    """The Kubernetes API client of the selected (kubernetes) environment."""
    from coursectl.adapters.kubernetes_api import Access, KubeApi

    env = loaded.environment
    k8s = env.kubernetes
    access = Access(context=env.context, namespace=str(env.namespace), kubeconfig=kubeconfig or k8s.kubeconfig,
                    request_timeout=k8s.request_timeout)
    return KubeApi(access, environ=environ)


def kubernetes_rig(
    loaded: Any, *, with_metrics: bool = True, kubeconfig: str | None = None, api: Any = None
) -> Rig:
    """Target (Deployments per slot) and router (Service selector, replica ratio or ingress-nginx canary) of a
    kubernetes environment, sharing one API client; Prometheus when the environment names one."""
    from coursectl.adapters.kubernetes_target import KubernetesTarget
    from coursectl.adapters.kubernetes_traffic import KubernetesRouter, snapshot
    from coursectl.render.kubernetes import ServiceInfo, Settings

    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    api = api or kube_api(loaded, kubeconfig=kubeconfig)
    settings = Settings.from_config(config, env_name)
    services = ServiceInfo.all_from_config(config)
    clock = SystemClock()
    target = KubernetesTarget(api, settings, services, smoke=env.kubernetes.smoke, clock=clock)
    router = KubernetesRouter(api, target, mode=env.kubernetes.traffic, ready_timeout=env.ready_timeout)
    metrics = None
    if with_metrics and env.prometheus_url:
        from coursectl.adapters.prometheus import PrometheusMetrics

        metrics = PrometheusMetrics(env.prometheus_url)
    return Rig(
        target=target,
        router=router,
        metrics=metrics,
        clock=clock,
        edge_url=env.public_url or "",
        snapshot=lambda names: snapshot(api, target, env.kubernetes.traffic, names),
        probe_slots=False,
        service_urls={f"{name.upper()}_URL": f"http://{name}:{svc.port}" for name, svc in config.services.items()},
        in_place=("rolling", "recreate"),
    )


def stop_edges(state_dir: Path) -> list[str]:
    """Stop every HAProxy edge coursectl started under ``<state_dir>/edge/<env>`` (their files stay, so the next
    rollout brings each edge back as it was). Returns what was stopped."""
    from coursectl.adapters.haproxy import HAProxyEdge

    stopped: list[str] = []
    root = state_dir / "edge"
    if not root.is_dir():
        return stopped
    for workdir in sorted(p for p in root.iterdir() if p.is_dir()):
        edge = HAProxyEdge(workdir, services={})
        pid = edge.pid()
        if pid is not None:
            edge.stop()
            stopped.append(f"edge {workdir.name}: stopped haproxy (pid {pid})")
    return stopped
