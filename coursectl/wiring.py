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
    from coursectl.adapters.alert_receiver import ReceiverServer
    from coursectl.adapters.docker_engine import DockerEngine
    from coursectl.adapters.haproxy import HAProxyEdge
    from coursectl.api.build import ImageService, RegistryAccess
    from coursectl.api.metrics import GitSource, SuccessSources
    from coursectl.api.rollout import RolloutContext
    from coursectl.api.sbom import SbomService
    from coursectl.config import LoadedConfig
    from coursectl.ledger import SqliteLedger
    from coursectl.ports import (
        BrowserJourney,
        BuildHistory,
        Clock,
        MetricsProvider,
        ProcessRunner,
        QualityGate,
        Registry,
        Scanner,
        Target,
        TrafficRouter,
    )
    from coursectl.sandbox import Sandbox, SandboxSettings


def ledger(state_dir: Path) -> SqliteLedger:
    """The ledger (and deploy lock) in ``state_dir``, opened and migrated."""
    from coursectl.ledger import open_ledger

    return open_ledger(state_dir)


def sandbox_docker_host(state_dir: Path) -> str | None:
    """The engine ``coursectl sandbox up`` started or found, when there is a sandbox in ``state_dir``."""
    from coursectl.sandbox import layout

    return layout.docker_host(state_dir)


def docker_host(loaded: LoadedConfig, state_dir: Path, environ: Mapping[str, str] | None = None) -> str | None:
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
    from coursectl.adapters.commands import LocalCommands
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
        commands=LocalCommands(),
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
        head=lambda: head_commit(loaded.root),
    )


def scanners(loaded: LoadedConfig) -> dict[str, Scanner]:
    """The scanner adapters by name (Trivy, Snyk), configured from ``scan:``."""
    from coursectl.adapters.snyk import SnykScanner
    from coursectl.adapters.trivy import TrivyScanner
    from coursectl.render.scanners import TrivyOptions

    scan = loaded.config.scan
    cache_dir = scan.trivy_cache_dir
    if cache_dir and not Path(cache_dir).expanduser().is_absolute():
        cache_dir = str(loaded.root / cache_dir)
    return {
        "trivy": TrivyScanner(TrivyOptions(timeout=scan.timeout, cache_dir=cache_dir, offline=scan.offline)),
        "snyk": SnykScanner(timeout=scan.timeout),
    }


def process_runner() -> ProcessRunner:
    """Programs run to completion on this machine (pytest, promtool, amtool)."""
    from coursectl.adapters.process import LocalProcesses

    return LocalProcesses()


def browser_journey() -> BrowserJourney:
    """The storefront's journey in headless Chromium (driven by Node.js)."""
    from coursectl.adapters.browser_journey import run_browser_journey

    return run_browser_journey


def head_commit(root: Path) -> str | None:
    """The commit checked out at ``root``; None when it is not a git checkout (or git is missing)."""
    from coursectl.adapters import git
    from coursectl.errors import CoursectlError

    try:
        return git.head_sha(root)
    except CoursectlError:
        return None


def describe_versions(loaded: LoadedConfig, state_dir: Path, ledger: Any, service: str, *, limit: int = 8) -> str:
    """'the registry has course 1a2b3c4d5e6f, 1.2.0, …' — what could be deployed instead, newest first.

    From the registry (``coursectl images``); when it does not answer, from the ledger's push records.
    """
    from coursectl.errors import CoursectlError

    try:
        rows = image_service(loaded, state_dir=state_dir, ledger=ledger).images(service)
    except CoursectlError as exc:
        pushes = ledger.events(service=service, kinds=["push"], limit=200)
        names = [str(e.version) for e in pushes if e.outcome == "succeeded" and e.version]
        found = _listing(names, limit)
        lead = f"the registry did not answer ({exc.message})"
        return f"{lead}; the ledger records pushes of {found}" if found else f"{lead}; no push of it is recorded"
    names = [r.version or next((t for t in r.tags if not t.startswith("inputs-")), r.digest[:19]) for r in rows]
    found = _listing(names, limit)
    return f"the registry has {found}" if found else f"the registry has no image of {service}"


def _listing(names: list[str], limit: int) -> str:
    seen = list(dict.fromkeys(names))
    more = f" and {len(seen) - limit} more" if len(seen) > limit else ""
    return ", ".join(seen[:limit]) + more


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


OBSERVE = "observe"
"""What ``status`` and ``deploy --dry-run`` need: the target and the edge, read-only — no registry credentials
(they must answer with the registry or ECR unreachable) and no metrics provider."""
ROLLOUT = "rollout"
"""What a rollout needs: a target that can pull from the registry, the edge, the metrics provider, the clock."""
NEEDS = (OBSERVE, ROLLOUT)


@dataclass
class Rig:
    """The adapters of one environment for one need (``OBSERVE`` or ``ROLLOUT``).

    What differs between targets is asked of the target and the router themselves (members of the ``Target``
    and ``TrafficRouter`` ports); ``probe_slots`` says whether ``status`` GETs each slot's health path (False:
    the target's readiness is read instead, kubernetes).
    """

    target: Target
    router: TrafficRouter
    metrics: MetricsProvider | None
    clock: Clock
    edge_url: str
    need: str = ROLLOUT
    probe_slots: bool = True


def sandbox_settings(config: Any, path: Path) -> SandboxSettings:
    """The sandbox's settings from a configuration (read from ``path``): its ports, the rules and Alertmanager
    routing rendered from it, and how to start coursectl's receiver with that configuration file."""
    from coursectl.api.observability import receiver_url
    from coursectl.observability.alertmanager import render_alertmanager
    from coursectl.observability.rules import rule_files, rule_groups
    from coursectl.sandbox import SandboxSettings

    cfg = config.sandbox
    port = cfg.receiver_port
    return SandboxSettings(
        registry_port=cfg.registry_port, prometheus_port=cfg.prometheus_port,
        alertmanager_port=cfg.alertmanager_port, blackbox_port=cfg.blackbox_port,
        node_exporter_port=cfg.node_exporter_port, receiver_port=port, base_image=cfg.base_image,
        rule_files=tuple(sorted(rule_files(rule_groups(config), source=str(path)).items())),
        alertmanager_config=render_alertmanager(config.observability.alertmanager, receiver_url(config)),
        receiver_argv=(sys.executable, "-m", "coursectl", "-c", str(path), "observability", "receive",
                       "--listen", f"127.0.0.1:{port}"),
    )  # fmt: skip


def sandbox(state_dir: Path, loaded: LoadedConfig | None) -> Sandbox:
    """The local sandbox in ``state_dir``, set up as ``loaded`` says (None: no configuration, the defaults)."""
    from coursectl.sandbox import Sandbox, SandboxSettings

    settings = sandbox_settings(loaded.config, loaded.path) if loaded is not None else SandboxSettings()
    return Sandbox(state_dir, settings)


def alert_receiver(
    host: str,
    port: int,
    *,
    on_alerts: Callable[[Mapping[str, Any]], tuple[bool, dict[str, Any]]],
    metrics: Callable[[], str],
) -> ReceiverServer:
    """The Alertmanager webhook receiver and ledger exporter listening on ``host:port``."""
    from coursectl.adapters.alert_receiver import ReceiverServer

    return ReceiverServer(host, port, on_alerts=on_alerts, metrics=metrics)


def service_ports(config: Any, env: Any) -> dict[str, int]:
    return {name: svc.port + env.port_offset for name, svc in config.services.items()}


def _file_sd(loaded: Any, state_dir: Path) -> Path:
    """Where the environment's Prometheus file_sd targets go: its ``file_sd_dir``, else the sandbox's."""
    env = loaded.environment
    if env.file_sd_dir:
        return Path(env.file_sd_dir)
    from coursectl.sandbox import layout

    return layout.file_sd_dir(state_dir) if layout.exists(state_dir) else state_dir / "prometheus" / "file_sd"


def edge_router(loaded: Any, state_dir: Path) -> HAProxyEdge:
    """The HAProxy edge of the selected (docker or process) environment: its TrafficRouter."""
    from coursectl.adapters.haproxy import HAProxyEdge

    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    return HAProxyEdge(
        state_dir / "edge" / env_name,
        services={name: svc.health for name, svc in config.services.items()},
        routes={name: svc.route for name, svc in config.services.items() if svc.route},
        bind=env.edge.bind,
        stats_bind=env.edge.stats_bind,
        rate_limit_requests=env.edge.rate_limit_requests,
        rate_limit_period=env.edge.rate_limit_period,
    )


def slot_target(loaded: Any, state_dir: Path, *, pull_credentials: bool) -> Target:
    """The Target of the selected (docker or process) environment; with ``pull_credentials`` it logs in to the
    registry to pull (never for ``status``, which must answer with the registry or ECR unreachable)."""
    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    ports = service_ports(config, env)
    file_sd = _file_sd(loaded, state_dir)
    if env.target == "process":
        from coursectl.adapters.process_target import ProcessTarget

        command = [sys.executable, "-m", "coursectl.tinyservice"]
        return ProcessTarget(
            state_dir / "slots" / env_name,
            ports,
            command=env.process_command or command,
            environment=env_name,
            file_sd_dir=file_sd,
            data_dir=state_dir / "data" / env_name,
            commands=env.process_commands,
        )
    from coursectl.adapters.docker_target import DockerTarget

    access = None
    if pull_credentials:
        try:
            access = registry_access(config, state_dir).auth_config()
        except Exception:  # no credentials: pulls of public or local images still work
            access = None
    return DockerTarget(
        environment=env_name,
        ports=ports,
        docker_host=docker_host(loaded, state_dir),
        file_sd_dir=file_sd,
        registry_auth=access,
        data_dir=state_dir / "data" / env_name,
    )


def metrics_provider(loaded: Any, state_dir: Path) -> MetricsProvider:
    """The MetricsProvider of the selected environment: its ``prometheus_url``, else the sandbox's Prometheus."""
    config, env = loaded.config, loaded.environment
    from coursectl.sandbox.layout import prometheus_url

    return prometheus(env.prometheus_url or prometheus_url(config.sandbox.prometheus_port))


def build_rig(
    loaded: Any, state_dir: Path, *, need: str = ROLLOUT, kubeconfig: str | None = None, read_only: bool = False
) -> Rig:
    """The adapters of the selected environment of ``loaded`` (a LoadedConfig) for ``need``.

    Each need gets its own rig (a use case asks for the one it needs; nothing half-built is reused): ``status``
    never logs in to the registry, a rollout always has its metrics provider. ``read_only`` (a dry run): the
    edge's monitoring targets are not written.
    """
    if need not in NEEDS:
        raise ValueError(f"unknown need {need!r}")
    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    if env.target == "kubernetes":
        rig = kubernetes_rig(loaded, with_metrics=need == ROLLOUT, kubeconfig=kubeconfig)
        rig.need = need
        return rig
    edge = edge_router(loaded, state_dir)
    if not read_only and need != OBSERVE:  # written when traffic changes; observing (status) writes nothing
        write_edge_monitoring(_file_sd(loaded, state_dir), env_name, env.edge, config.observability.probes)
    target = slot_target(loaded, state_dir, pull_credentials=need == ROLLOUT)
    metrics = metrics_provider(loaded, state_dir) if need == ROLLOUT else None
    return Rig(target=target, router=edge, metrics=metrics, clock=SystemClock(), edge_url=edge.url, need=need)


# metrics and code quality --------------------------------------------------------------------------------


def prometheus(url: str, *, timeout: float = 5.0) -> MetricsProvider:
    """The Prometheus at ``url`` (the one Prometheus client: rollout analysis and uptime alike)."""
    from coursectl.adapters.prometheus import PrometheusMetrics

    return PrometheusMetrics(url, timeout=timeout)


def sonarqube(url: str, token: str | None, *, timeout: float = 30.0) -> QualityGate:
    """The SonarQube at ``url`` (the one SonarQube client: the quality gate and coverage alike)."""
    from coursectl.adapters.sonarqube import SonarQubeGate

    return SonarQubeGate(url, token, http_timeout=timeout)


def success_sources(metrics: Any, state_dir: Path, environ: Mapping[str, str] | None = None) -> SuccessSources:
    """The sources of the success metrics that ``metrics`` (a MetricsConfig) names; secrets are resolved when a
    metric is read, so one that is not set makes only that metric unknown."""
    from coursectl.api.metrics import SuccessSources

    secrets_file = state_dir / "secrets.env"

    def secret(ref: Any) -> str | None:
        return None if ref is None else str(ref.resolve(environ=environ, secrets_file=secrets_file))

    prom, jenkins, sonar = metrics.prometheus, metrics.jenkins, metrics.sonarqube

    def builds() -> BuildHistory:
        from coursectl.adapters.jenkins_builds import JenkinsBuilds

        return JenkinsBuilds(
            jenkins.url, jenkins.job, username=secret(jenkins.username), token=secret(jenkins.token),
            timeout=jenkins.timeout,
        )  # fmt: skip

    return SuccessSources(
        prometheus=(lambda: prometheus(prom.url, timeout=prom.timeout)) if prom is not None else None,
        builds=builds if jenkins is not None else None,
        quality=(lambda: sonarqube(sonar.url, secret(sonar.token), timeout=sonar.timeout)) if sonar else None,
    )


def git_source(repository: Path, service_paths: Mapping[str, str], shared_paths: Sequence[str]) -> GitSource:
    """Where the DORA report reads the commits of deployments that do not list theirs: git in ``repository``."""
    from functools import partial

    from coursectl.adapters.git import commits_between
    from coursectl.api.metrics import GitSource

    return GitSource(repository, service_paths, shared_paths, commits=partial(commits_between, repository))


# kubernetes ----------------------------------------------------------------------------------------------


def kube_api(loaded: Any, *, kubeconfig: str | None = None, environ: Mapping[str, str] | None = None) -> Any:
    """The Kubernetes API client of the selected (kubernetes) environment."""
    from coursectl.adapters.kubernetes_api import Access, KubeApi

    env = loaded.environment
    k8s = env.kubernetes
    access = Access(
        context=env.context,
        namespace=str(env.namespace),
        kubeconfig=kubeconfig or k8s.kubeconfig,
        request_timeout=k8s.request_timeout,
    )
    return KubeApi(access, environ=environ)


def kubernetes_rig(
    loaded: Any, *, with_metrics: bool = True, kubeconfig: str | None = None, api: Any = None
) -> Rig:
    """Target (Deployments per slot) and router (Service selector, replica ratio or ingress-nginx canary) of a
    kubernetes environment, sharing one API client; Prometheus when the environment names one."""
    from coursectl.adapters.kubernetes_target import KubernetesTarget
    from coursectl.adapters.kubernetes_traffic import KubernetesRouter
    from coursectl.render.kubernetes import ServiceInfo, Settings

    config, env, env_name = loaded.config, loaded.environment, loaded.env_name
    api = api or kube_api(loaded, kubeconfig=kubeconfig)
    settings = Settings.from_config(config, env_name)
    services = ServiceInfo.all_from_config(config)
    clock = SystemClock()
    target = KubernetesTarget(api, settings, services, smoke=env.kubernetes.smoke, clock=clock)
    router = KubernetesRouter(api, target, mode=env.kubernetes.traffic, ready_timeout=env.ready_timeout)
    metrics = prometheus(env.prometheus_url) if with_metrics and env.prometheus_url else None
    return Rig(
        target=target,
        router=router,
        metrics=metrics,
        clock=clock,
        edge_url=env.public_url or "",
        probe_slots=False,
    )


def write_edge_monitoring(file_sd: Path, env_name: str, edge: Any, probes: list[str]) -> None:
    """Prometheus targets of an environment's edge: its HAProxy exporter (``edge-<env>.json``, service
    ``edge``) and the blackbox probes of its public routes (``probes/<env>.json``). Never fails a rollout: a
    problem is logged."""
    import logging

    from coursectl.observability.alertmanager import edge_targets, probe_targets
    from coursectl.sandbox import remove_targets, write_targets

    try:
        write_targets(file_sd, f"edge-{env_name}", edge_targets(env_name, edge.stats_bind))
        groups = probe_targets({env_name: edge.bind}, probes)
        if groups:
            write_targets(file_sd / "probes", env_name, groups)
        else:
            remove_targets(file_sd / "probes", env_name)
    except Exception as exc:  # monitoring files must never stop a deployment
        logging.getLogger(__name__).warning(
            "could not write the edge's Prometheus targets in %s: %s", file_sd, exc
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
                host=mail.host,
                port=mail.port,
                sender=mail.sender,
                recipients=mail.recipients,
                starttls=mail.starttls,
                use_ssl=mail.ssl,
                ca_file=mail.ca_file,
                username=username,
                password=password,
                timeout=mail.timeout,
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


# backups -----------------------------------------------------------------------------------------------------


def backups_config(loaded: LoadedConfig) -> Any:
    """The ``backups`` section; ConfigError (exit 3) when the configuration has none."""
    from coursectl.errors import ConfigError, ConfigProblem

    cfg = loaded.config.backups
    if cfg is None:
        raise ConfigError(
            [ConfigProblem(str(loaded.path), "backups", "not configured")],
            hint="add a backups: section (key, stores, sources); see docs/backups.md",
        )
    return cfg


def backup_outcome_hook(service: Any) -> Any:
    """Backup outcomes → notifications through ``service`` (a NotificationService): every ``create`` (succeeded
    or failed) and every failed verify, restore or prune; a successful verify, restore or prune says nothing."""
    from coursectl.api.notify import notify_backup
    from coursectl.domain import BackupOutcome

    def hook(outcome: BackupOutcome) -> None:
        if outcome.ok and outcome.action != "create":
            return
        details = outcome.details
        size = details.get("stored_size")
        seconds = details.get("seconds")
        notify_backup(
            service,
            succeeded=outcome.ok,
            source=outcome.source,
            backup_id=outcome.backup_id,
            store=outcome.store,
            size_bytes=int(size) if isinstance(size, int | float) else None,
            duration_s=float(seconds) if isinstance(seconds, int | float) else None,
            error=None if outcome.ok else f"{outcome.action}: {outcome.message}",
            now=outcome.time,
        )

    return hook


def backup_context(
    loaded: LoadedConfig,
    state_dir: Path,
    *,
    ledger: Any,
    environ: Mapping[str, str] | None = None,
    progress: Any = None,
    on_outcome: Any = None,
) -> Any:
    """The backup use cases' context: key ring, stores and sources built from ``backups:`` on first use."""
    from coursectl.api.backup import BackupContext, SourceSettings
    from coursectl.backup.keys import KeyRing, parse_key
    from coursectl.backup.retention import Policy
    from coursectl.domain import current_actor

    cfg = backups_config(loaded)
    env = dict(os.environ if environ is None else environ)
    secrets_file = state_dir / "secrets.env"
    root = loaded.root

    def secret(ref: Any) -> str:
        value: str = ref.resolve(environ=env, secrets_file=secrets_file)
        return value

    def keys() -> KeyRing:
        current = parse_key(secret(cfg.key), source=cfg.key.describe())
        return KeyRing(current, tuple(parse_key(secret(k), source=k.describe()) for k in cfg.previous_keys))

    def store_factory(name: str) -> Any:
        store = cfg.stores[name]
        if store.type == "local":
            from coursectl.adapters.backup_store_local import LocalStore

            return LocalStore(name, (root / Path(store.path).expanduser()).absolute())
        from coursectl.adapters.backup_store_s3 import S3Store

        return S3Store(
            name,
            bucket=store.bucket,
            prefix=store.prefix,
            endpoint_url=store.endpoint_url,
            region=store.region,
            access_key_id=secret(store.access_key_id) if store.access_key_id else None,
            secret_access_key=secret(store.secret_access_key) if store.secret_access_key else None,
            addressing_style=store.addressing_style,
            part_size=store.part_size,
            timeout=store.timeout,
        )

    def source_factory(name: str) -> Any:
        src = cfg.sources[name]
        if src.type == "mariadb":
            from functools import partial

            from coursectl.adapters.backup_mariadb import MariaDBSource
            from coursectl.adapters.mariadb_scratch import scratch_mariadb

            scratch = cfg.scratch
            return MariaDBSource(
                name,
                databases=src.databases,
                host=src.host,
                port=src.port,
                socket=src.socket,
                user=src.user,
                password=secret(src.password) if src.password else None,
                dump_command=src.dump_command,
                client_command=src.client_command,
                checksums=src.checksums,
                lock_timeout=src.lock_timeout,
                timeout=src.timeout,
                scratch=partial(
                    scratch_mariadb,
                    mariadbd=scratch.mariadbd,
                    install_db=scratch.install_db,
                    start_timeout=scratch.start_timeout,
                    buffer_pool=scratch.buffer_pool,
                ),
            )
        if src.type == "ledger":
            from coursectl.adapters.backup_sqlite import LedgerSource

            live = state_dir / "ledger.db"
            path = (root / Path(src.path).expanduser()).absolute() if src.path else live
            return LedgerSource(name, path, live=[live])
        if src.type == "docker-data":
            from coursectl.adapters.backup_sqlite import DataFolderSource

            default = state_dir / "data" / src.environment
            path = (root / Path(src.path).expanduser()).absolute() if src.path else default
            return DataFolderSource(name, path)
        if src.type == "jenkins-home":
            from coursectl.adapters.backup_jenkins_home import JenkinsHomeSource

            return JenkinsHomeSource(
                name,
                (root / Path(src.path).expanduser()).absolute(),
                secrets_key=lambda: parse_key(secret(src.secrets_key), source=src.secrets_key.describe()),
            )
        from coursectl.adapters.backup_jenkins_remote import JenkinsRemoteSource

        return JenkinsRemoteSource(
            name,
            src.url,
            username=secret(src.username) if src.username else None,
            token=secret(src.token) if src.token else None,
            timeout=src.timeout,
        )

    def policy(src: Any) -> Policy:
        r = src.retention
        return Policy(
            last=r.keep_last,
            hourly=r.keep_hourly,
            daily=r.keep_daily,
            weekly=r.keep_weekly,
            monthly=r.keep_monthly,
            yearly=r.keep_yearly,
        )

    return BackupContext(
        sources={n: SourceSettings(n, src.type, src.store, policy(src)) for n, src in cfg.sources.items()},
        keys=keys,
        store_factory=store_factory,
        source_factory=source_factory,
        ledger=ledger,
        actor=current_actor(env),
        compression=cfg.compression,
        compression_level=cfg.compression_level,
        chunk_size=cfg.chunk_size,
        timezone=cfg.timezone,
        grace=cfg.grace,
        progress=progress,
        on_outcome=on_outcome,
    )


def log_source(loaded: Any, state_dir: Path, *, kubeconfig: str | None = None) -> Any:
    """The LogSource of the selected environment: docker containers, the process target's log files, or the
    kubernetes target's pods (their containers' logs through the API server)."""
    env, env_name = loaded.environment, loaded.env_name
    if env.target == "kubernetes":
        from coursectl.adapters.kubernetes_logs import KubernetesLogs

        return KubernetesLogs(kube_api(loaded, kubeconfig=kubeconfig), environment=env_name)
    if env.target == "process":
        from coursectl.adapters.file_logs import FileLogs

        return FileLogs(state_dir / "slots" / env_name)
    from coursectl.adapters.docker_logs import DockerLogs

    return DockerLogs(environment=env_name, docker_host=docker_host(loaded, state_dir))


# the rollout and release use cases -------------------------------------------------------------------------


class RolloutAdapters:
    """What the rollout and release use cases ask for on demand (``RolloutContext.adapters``): a rig per need,
    the work tree's commit, the registry's versions, the image and SBOM services."""

    def __init__(
        self,
        loaded: LoadedConfig,
        state_dir: Path,
        ledger: Any,
        *,
        kubeconfig: str | None = None,
        read_only: bool = False,
    ):
        self.loaded, self.state_dir, self.ledger = loaded, state_dir, ledger
        self.kubeconfig, self.read_only = kubeconfig, read_only

    def rig(self, need: str) -> Rig:
        return build_rig(
            self.loaded, self.state_dir, need=need, kubeconfig=self.kubeconfig, read_only=self.read_only
        )

    def head_commit(self) -> str | None:
        return head_commit(self.loaded.root)

    def available_versions(self, service: str) -> str:
        return describe_versions(self.loaded, self.state_dir, self.ledger, service)

    def image_service(self) -> ImageService:
        return image_service(self.loaded, state_dir=self.state_dir, ledger=self.ledger)

    def sbom_service(self) -> SbomService:
        return sbom_service(self.loaded, state_dir=self.state_dir, ledger=self.ledger)

    def scanners(self) -> Any:
        return scanners(self.loaded)

    def browser_journey(self) -> Any:
        return browser_journey()


def rollout_context(
    loaded: LoadedConfig,
    ledger: Any,
    state_dir: Path,
    *,
    kubeconfig: str | None = None,
    read_only: bool = False,
    **fields: Any,
) -> RolloutContext:
    """The context of the rollout and release use cases with this environment's adapters (``read_only``: a dry
    run, whose adapters write nothing; ``fields``: actor, on_change, rig_factory)."""
    from coursectl.api.rollout import RolloutContext

    adapters = RolloutAdapters(loaded, state_dir, ledger, kubeconfig=kubeconfig, read_only=read_only)
    return RolloutContext(loaded=loaded, ledger=ledger, state_dir=state_dir, adapters=adapters, **fields)
