"""Configuration → concrete adapters → use cases: the one module that knows which adapters are used."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.domain import utcnow
from coursectl.errors import PreconditionError

if TYPE_CHECKING:
    from coursectl.adapters.docker_engine import DockerEngine
    from coursectl.api.build import ImageService, RegistryAccess
    from coursectl.api.sbom import SbomService
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


def sbom_service(
    loaded: LoadedConfig,
    *,
    state_dir: Path,
    ledger: Any,
    environ: Mapping[str, str] | None = None,
    generator: Any = None,
    builder: Any = None,
) -> SbomService:
    """The SBOM use cases wired to syft (docker source through the engine of this environment, registry source
    with the referenced credentials in syft's environment), the engine and the registry."""
    from coursectl.adapters.syft import SyftGenerator
    from coursectl.api.sbom import SbomService
    from coursectl.errors import CoursectlError
    from coursectl.render.syft import is_loopback

    env = dict(os.environ if environ is None else environ)
    config = loaded.config
    host = docker_host(loaded, state_dir, env)
    if generator is None:
        try:
            access = registry_access(config, state_dir, env)
            user, password = access.username, access.password
        except CoursectlError:  # no credentials: public or local images still work
            user = password = None
        generator = SyftGenerator(
            timeout=config.sbom.timeout, docker_host=host, registry=config.registry.url, username=user,
            password=password, insecure_http=config.registry.insecure or is_loopback(config.registry.url),
        )  # fmt: skip

    def registry() -> Registry:
        access = registry_access(config, state_dir, env)
        return registry_client(config, access)

    return SbomService(
        config=config,
        root=loaded.root,
        state_dir=state_dir,
        ledger=ledger,
        generator=generator,
        builder=builder or docker_engine(loaded, state_dir, env),
        registry=registry,
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


def build_rig(loaded: Any, state_dir: Path, *, with_metrics: bool = True) -> Rig:
    """Adapters for the selected environment of ``loaded`` (a LoadedConfig)."""
    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    if env.target == "kubernetes":
        raise PreconditionError(
            f"environment {env_name} uses the kubernetes target, which this coursectl cannot roll out to yet",
            hint="use a docker or process environment",
        )
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


# notifications -----------------------------------------------------------------------------------------------


def notifiers(
    config: Any, state_dir: Path, environ: Mapping[str, str] | None = None, *, console: Any = None
) -> dict[str, Any]:
    """The configured channels as Notifier adapters. A channel whose secret is not available here becomes an
    ``Unavailable`` one that says so at every send (recorded, reported) instead of failing the command."""
    from coursectl.adapters.console_notifier import ConsoleNotifier
    from coursectl.errors import CoursectlError
    from coursectl.notify.dispatcher import Unavailable

    cfg = config.notifications
    secrets_file = state_dir / "secrets.env"
    out: dict[str, Any] = {"console": ConsoleNotifier(console)}
    if cfg.slack is not None:
        slack = cfg.slack
        try:
            if slack.token is not None:
                from coursectl.adapters.slack import SlackBotNotifier

                token = slack.token.resolve(environ=environ, secrets_file=secrets_file)
                out["slack"] = SlackBotNotifier(
                    token, slack.channel, base_url=slack.base_url, timeout=slack.timeout
                )
            else:
                from coursectl.adapters.slack import SlackWebhookNotifier

                url = slack.webhook.resolve(environ=environ, secrets_file=secrets_file)
                out["slack"] = SlackWebhookNotifier(url, timeout=slack.timeout)
        except CoursectlError as exc:
            out["slack"] = Unavailable("slack", exc)
    if cfg.email is not None:
        mail = cfg.email
        try:
            from coursectl.adapters.smtp_email import EmailNotifier

            username = mail.username.resolve(environ=environ, secrets_file=secrets_file) if mail.username else None
            password = mail.password.resolve(environ=environ, secrets_file=secrets_file) if mail.password else None
            out["email"] = EmailNotifier(
                host=mail.host, port=mail.port, sender=mail.sender, recipients=mail.recipients,
                starttls=mail.starttls, use_ssl=mail.ssl, ca_file=mail.ca_file, username=username,
                password=password, timeout=mail.timeout,
            )
        except CoursectlError as exc:
            out["email"] = Unavailable("email", exc)
    return out


def notification_service(
    config: Any,
    *,
    state_dir: Path,
    ledger: Any = None,
    environ: Mapping[str, str] | None = None,
    actor: str | None = None,
    channels: Mapping[str, Any] | None = None,
) -> Any:
    """The NotificationService of ``config`` (a Config): its routes, its channels, its retry policy."""
    from coursectl.domain import current_actor
    from coursectl.notify.dispatcher import NotificationService, RetryPolicy
    from coursectl.notify.routing import routes_from_config

    cfg = config.notifications
    return NotificationService(
        channels if channels is not None else notifiers(config, state_dir, environ),
        routes_from_config(cfg),
        ledger=ledger,
        actor=actor or current_actor(environ),
        retry=RetryPolicy(cfg.retry.attempts, cfg.retry.backoff, cfg.retry.max_backoff),
        drain_timeout=cfg.retry.drain,
    )


def notification_links(config: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A function (service, environment) → the links every notification shows (pipeline, dashboards)."""
    from coursectl.notify.messages import links_for

    env = dict(os.environ if environ is None else environ)
    configured = [(link.name, link.url) for link in config.notifications.links]

    def links(service: str | None, environment: str | None) -> tuple[tuple[str, str], ...]:
        return links_for(configured, env, service=service, environment=environment)

    return links


def rollout_watcher(config: Any, service: Any, environ: Mapping[str, str] | None = None) -> Any:
    """The engine ``on_change`` observer that announces rollouts through ``service`` (a NotificationService)."""
    from coursectl.notify.dispatcher import ledger_has_final
    from coursectl.notify.watcher import RolloutWatcher

    links = notification_links(config, environ)
    ledger = service.ledger
    return RolloutWatcher(
        service.publish,
        links=lambda state: links(state.service, state.environment),
        already_final=(lambda key: ledger_has_final(ledger, key)) if ledger is not None else (lambda _k: False),
    )
