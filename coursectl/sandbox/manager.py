"""The sandbox as one object: bring engine, registry, Prometheus and base image up, report them, stop them."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from coursectl.adapters import http_probe
from coursectl.errors import ExternalError
from coursectl.paths import ensure_dir
from coursectl.sandbox import (
    baseimage,
    credentials,
    daemon,
    engine,
    layout,
    lock,
    monitoring,
    pids,
    probe,
    prometheus,
    registry,
)
from coursectl.sandbox.credentials import Credentials
from coursectl.sandbox.manifest import Entry, Manifest
from coursectl.sandbox.model import ComponentStatus, SandboxSettings, SandboxStatus

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
LOCK_TIMEOUT = 600.0  # an `up` that builds the base image holds the lock for about a minute


class Sandbox:
    """The local environment under ``<state_dir>/sandbox``: every step idempotent, ``down`` stops only ours."""

    def __init__(self, state_dir: Path, settings: SandboxSettings | None = None) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.settings = settings or SandboxSettings()
        self.dir = self.state_dir / "sandbox"
        self.engine_paths = layout.engine_paths(self.dir)
        self.registry_paths = registry.registry_paths(self.dir)
        self.prometheus_paths = layout.prometheus_paths(self.dir)

    # ---- addresses other code uses -------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        return self.dir / "sandbox.json"

    @property
    def cache_dir(self) -> Path:
        return self.settings.cache_dir or self.state_dir / "cache"

    def docker_host(self) -> str:
        """The engine URL to use: ours, or the external one ``up`` found (e.g. ``unix:///…/docker.sock``)."""
        return layout.docker_host(self.state_dir) or self.engine_paths.url

    def registry_address(self) -> str:
        """``127.0.0.1:<port>``: the registry host part of image references."""
        return f"127.0.0.1:{self.settings.registry_port}"

    def prometheus_url(self) -> str:
        return layout.prometheus_url(self.settings.prometheus_port)

    def file_sd_dir(self) -> Path:
        """Where coursectl writes Prometheus targets (``<name>.json``); see ``prometheus.write_targets``."""
        return self.prometheus_paths.file_sd

    def probes_dir(self) -> Path:
        """Where coursectl writes the blackbox exporter's probe targets (edge routes, ``<name>.json``)."""
        return self.prometheus_paths.probes

    def alertmanager_url(self) -> str:
        return monitoring.ALERTMANAGER.url(self.settings.alertmanager_port)

    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.receiver_port}"

    def _monitoring(self) -> prometheus.Monitoring:
        s = self.settings
        return prometheus.Monitoring(s.alertmanager_port, s.blackbox_port, s.node_exporter_port, s.receiver_port)

    def _prometheus_config(self) -> str:
        return prometheus.render_config(
            self.prometheus_paths,
            port=self.settings.prometheus_port,
            monitoring=self._monitoring(),
            scrape_interval=self.settings.scrape_interval,
            evaluation_interval=self.settings.evaluation_interval,
        )

    def _alertmanager_config(self) -> str:
        if self.settings.alertmanager_config is not None:
            return self.settings.alertmanager_config
        from coursectl.config.models import AlertmanagerRouting
        from coursectl.observability.alertmanager import render_alertmanager

        return render_alertmanager(AlertmanagerRouting.model_validate({}), self.receiver_url())

    def _daemon_port(self, name: str) -> int:
        return {
            "alertmanager": self.settings.alertmanager_port,
            "blackbox": self.settings.blackbox_port,
            "node-exporter": self.settings.node_exporter_port,
        }[name]

    def credentials(self) -> Credentials | None:
        """The registry credentials stored in ``<state_dir>/secrets.env``, if generated yet."""
        stored = credentials.read_secrets(self.state_dir)
        user, password = stored.get(credentials.USER_KEY), stored.get(credentials.PASSWORD_KEY)
        return Credentials(user, password) if user and password else None

    # ---- up ---------------------------------------------------------------------------------------------

    def up(self, progress: Progress | None = None) -> SandboxStatus:
        """Bring every component up; what already runs is left alone (``changes`` is empty then)."""
        ensure_dir(self.dir)
        with lock.exclusive(self.dir / ".lock", timeout=LOCK_TIMEOUT):
            return self._up(progress or (lambda _msg: None))

    def _up(self, say: Progress) -> SandboxStatus:
        ensure_dir(self.dir / "logs")
        manifest = self._manifest()
        changes = self._forget_stale(manifest)
        changes += self._up_engine(manifest, say)
        creds, new = credentials.ensure_credentials(self.state_dir, self.settings.registry_user)
        if new:
            changes.append(
                f"registry: generated credentials for {creds.username} in {self.state_dir / 'secrets.env'}"
            )
        if credentials.ensure_secret(self.state_dir, credentials.PLATFORM_ADMIN_KEY)[1]:
            changes.append(
                f"platform: generated the admin password {credentials.PLATFORM_ADMIN_KEY} in"
                f" {self.state_dir / 'secrets.env'}"
            )
        changes += self._up_daemon(
            manifest,
            "registry",
            port=self.settings.registry_port,
            healthy=registry.healthy,
            start=lambda: registry.start(
                self.dir, creds, port=self.settings.registry_port, timeout=self.settings.start_timeout
            ),
            address=registry.url(self.settings.registry_port),
            say=say,
        )
        changes += self._up_monitoring(manifest, say)
        changes += self._up_base_image(manifest, say)
        status = self.status()
        return SandboxStatus(status.state_dir, status.components, tuple(changes))

    def _up_monitoring(self, manifest: Manifest, say: Progress) -> list[str]:
        """Prometheus (configuration and rules kept current, reloaded when they change), Alertmanager, the
        blackbox and node exporters, and coursectl's receiver when the settings say how to start it."""
        s = self.settings
        paths = self.prometheus_paths
        config_text = self._prometheus_config()
        config_changed = prometheus.write_if_changed(paths.config, config_text) if paths.config.exists() else True
        rules_changed = prometheus.write_rules(paths, s.rule_files) if s.rule_files else False
        paths.probes.mkdir(parents=True, exist_ok=True, mode=0o700)
        changes = self._up_daemon(
            manifest, "prometheus", port=s.prometheus_port, healthy=prometheus.healthy,
            start=lambda: prometheus.start(self.dir, port=s.prometheus_port, timeout=s.start_timeout,
                                           config_text=config_text),
            address=self.prometheus_url(), say=say,
        )  # fmt: skip
        if not changes and (config_changed or rules_changed):
            what = " and ".join(w for w, c in (("configuration", config_changed), ("rules", rules_changed)) if c)
            if not prometheus.reload(s.prometheus_port):
                raise ExternalError(f"prometheus did not reload its {what}; see {paths.log}")
            changes.append(f"prometheus: {what} updated and reloaded")
        am_config = monitoring.alertmanager_config_path(self.dir)
        am_changed = prometheus.write_if_changed(am_config, self._alertmanager_config())
        for d in monitoring.DAEMONS:
            port = self._daemon_port(d.name)
            started = self._up_daemon(
                manifest, d.name, port=port, healthy=d.healthy,
                start=functools.partial(monitoring.start, d, self.dir, port=port, timeout=s.start_timeout),
                address=d.url(port), say=say,
            )  # fmt: skip
            if d is monitoring.ALERTMANAGER and not started and am_changed:
                if http_probe.http_post(f"{d.url(port)}/-/reload") != 200:
                    raise ExternalError(f"alertmanager did not reload {am_config}; see {self.dir}/logs")
                started.append("alertmanager: configuration updated and reloaded")
            changes += started
        if s.receiver_argv:
            argv = s.receiver_argv
            current = manifest.get("receiver")
            if current and current.started_by_us and current.extra.get("argv") not in (None, list(argv)):
                self._stop_entry("receiver", current)  # another configuration: restart it with this one
                manifest.drop("receiver")
                changes.append("receiver: stopped, to start it with the new configuration")
            changes += self._up_daemon(
                manifest, "receiver", port=s.receiver_port, healthy=monitoring.receiver_healthy,
                start=lambda: monitoring.start_receiver(argv, self.dir, port=s.receiver_port,
                                                        timeout=s.start_timeout),
                address=self.receiver_url(), say=say,
            )  # fmt: skip
            entry = manifest.get("receiver")
            if entry and entry.started_by_us and entry.extra.get("argv") != list(argv):
                manifest.set("receiver", dataclasses.replace(entry, extra={**entry.extra, "argv": list(argv)}))
        return changes

    def _forget_stale(self, manifest: Manifest) -> list[str]:
        changes = []
        for name in manifest.stale(pids.alive):
            entry = manifest.entries[name]
            changes.append(f"{name}: forgot pid {entry.pid}, which is no longer running")
            manifest.drop(name)
        return changes

    def _up_engine(self, manifest: Manifest, say: Progress) -> list[str]:
        entry = manifest.get("engine")
        if entry and entry.started_by_us and pids.alive(entry.pid, entry.starttime):
            deadline = time.monotonic() + self.settings.start_timeout
            while not engine.ping(entry.address):
                if time.monotonic() >= deadline:
                    raise self._unhealthy("engine", entry)
                time.sleep(0.5)
            return []
        if entry and not entry.started_by_us and engine.ping(entry.address):
            return []
        if entry and not entry.started_by_us:
            manifest.drop("engine")
        external = engine.find_external(exclude=self.engine_paths.url)
        if external:
            manifest.set("engine", Entry(address=external, started_by_us=False))
            return [f"engine: using the Docker engine at {external}"]
        say(f"engine: starting a private dockerd on {self.engine_paths.socket}")
        started = engine.start_private(
            self.engine_paths, storage_driver=self.settings.storage_driver, timeout=self.settings.start_timeout
        )
        info = engine.describe(self.engine_paths.url)
        manifest.set(
            "engine",
            Entry(
                address=self.engine_paths.url,
                started_by_us=True,
                pid=started.pid,
                starttime=started.starttime,
                log=str(started.log),
                extra={"driver": info.get("driver"), "version": info.get("version")},
            ),
        )
        return [f"engine: started a private dockerd (pid {started.pid}, storage driver {info.get('driver')})"]

    def _up_daemon(
        self,
        manifest: Manifest,
        name: str,
        *,
        port: int,
        healthy: Callable[[int], bool],
        start: Callable[[], daemon.Started],
        address: str,
        say: Progress,
    ) -> list[str]:
        entry = manifest.get(name)
        if entry and entry.started_by_us and pids.alive(entry.pid, entry.starttime):
            if entry.address == address and healthy(port):
                return []
            if entry.address == address:
                raise self._unhealthy(name, entry)
            self._stop_entry(name, entry)  # the port changed: restart it on the new one
            manifest.drop(name)
        say(f"{name}: starting on {address}")
        started = start()
        manifest.set(
            name,
            Entry(address=address, started_by_us=True, pid=started.pid, starttime=started.starttime,
                  log=str(started.log)),
        )  # fmt: skip
        return [f"{name}: started on {address} (pid {started.pid})"]

    def _unhealthy(self, name: str, entry: Entry) -> ExternalError:
        return ExternalError(
            f"{name} (pid {entry.pid}) runs but does not answer on {entry.address}; see {entry.log}:\n"
            f"{daemon.log_tail(Path(entry.log)) if entry.log else ''}",
            hint="run `coursectl sandbox down` and `coursectl sandbox up` again",
            details={"component": name, "log": entry.log},
        )

    def _up_base_image(self, manifest: Manifest, say: Progress) -> list[str]:
        url = self.docker_host()
        result = baseimage.ensure(
            url,
            self.settings.base_image,
            cache_dir=self.cache_dir,
            suite=self.settings.suite,
            mirror=self.settings.mirror,
            log_path=self.dir / "logs" / "base-image.log",
            progress=say,
        )
        if result.action == "present":
            return []
        manifest.set(
            "base-image",
            Entry(
                address=self.settings.base_image,
                started_by_us=True,
                extra={"id": result.image_id, "action": result.action, "seconds": round(result.seconds, 1),
                       "engine": url},
            ),
        )  # fmt: skip
        return [f"base-image: {result.action} {result.image} in {result.seconds:.1f} s"]

    # ---- down -------------------------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop what this sandbox started (and nothing else); returns what was stopped, empty when nothing."""
        if not self.dir.exists():
            return []
        with lock.exclusive(self.dir / ".lock", timeout=LOCK_TIMEOUT):
            return self._down()

    def _down(self) -> list[str]:
        manifest = self._manifest()
        stopped: list[str] = []
        for name in ("receiver", "node-exporter", "blackbox", "alertmanager", "prometheus", "registry"):
            entry = manifest.get(name)
            if entry and entry.started_by_us:
                if self._stop_entry(name, entry):
                    stopped.append(f"{name}: stopped (pid {entry.pid})")
                manifest.drop(name)
        for name, needle in (
            ("registry", str(self.registry_paths.config)),
            ("prometheus", str(self.prometheus_paths.config)),
            *((d.name, d.config_needles(self.dir)[0]) for d in monitoring.DAEMONS),
        ):
            for proc in pids.matching([needle]):
                if pids.terminate(proc.pid, proc.starttime, timeout=15):
                    stopped.append(f"{name}: stopped leftover pid {proc.pid}")
        entry = manifest.get("engine")
        if entry and entry.started_by_us:
            stopped += engine.stop_private(self.engine_paths, entry.pid, entry.starttime)
        elif pids.matching(self.engine_paths.needles()):
            stopped += engine.stop_private(self.engine_paths, None, None)
        if entry:
            manifest.drop("engine")
        return stopped

    def _stop_entry(self, name: str, entry: Entry) -> bool:
        if entry.pid is None:
            return False
        done = pids.terminate(entry.pid, entry.starttime, timeout=20)
        if pids.alive(entry.pid, entry.starttime):
            raise ExternalError(f"{name} (pid {entry.pid}) did not stop; see {entry.log}")
        return done

    # ---- status -----------------------------------------------------------------------------------------

    def status(self) -> SandboxStatus:
        """Every component as it is now; fast, read-only."""
        manifest = self._manifest()
        eng = self._engine_status(manifest)
        comps = (
            eng,
            self._daemon_status(manifest, "registry", self.settings.registry_port, registry.healthy,
                                registry.url(self.settings.registry_port)),
            self._daemon_status(manifest, "prometheus", self.settings.prometheus_port, prometheus.healthy,
                                self.prometheus_url()),
            *(self._daemon_status(manifest, d.name, self._daemon_port(d.name), d.healthy,
                                  d.url(self._daemon_port(d.name))) for d in monitoring.DAEMONS),
            *((self._daemon_status(manifest, "receiver", self.settings.receiver_port, monitoring.receiver_healthy,
                                   self.receiver_url()),) if self.settings.receiver_argv else ()),
            self._image_status(manifest, eng),
        )  # fmt: skip
        return SandboxStatus(self.state_dir, comps)

    def _engine_status(self, manifest: Manifest) -> ComponentStatus:
        entry = manifest.get("engine")
        if entry and entry.started_by_us:
            if not pids.alive(entry.pid, entry.starttime):
                return ComponentStatus("engine", "stopped", entry.address, False, True, f"pid {entry.pid} is gone")
            up = engine.ping(entry.address)
            info = engine.describe(entry.address) if up else {}
            detail = (
                f"private dockerd pid {entry.pid}, docker {info.get('version')}, storage {info.get('driver')}"
                if up
                else f"private dockerd pid {entry.pid} does not answer; see {entry.log}"
            )
            return ComponentStatus("engine", "running", entry.address, up, True, detail)
        url = (
            entry.address
            if entry and engine.ping(entry.address)
            else engine.find_external(exclude=self.engine_paths.url)
        )
        if url:
            info = engine.describe(url)
            return ComponentStatus(
                "engine", "external", url, True, False,
                f"docker {info.get('version')}, storage {info.get('driver')}",
            )  # fmt: skip
        return ComponentStatus(
            "engine", "absent", self.engine_paths.url, False, False,
            "no engine answers; `sandbox up` starts a private dockerd",
        )  # fmt: skip

    def _daemon_status(
        self, manifest: Manifest, name: str, port: int, healthy: Callable[[int], bool], address: str
    ) -> ComponentStatus:
        entry = manifest.get(name)
        if entry and entry.started_by_us and pids.alive(entry.pid, entry.starttime):
            ok = healthy(port) if entry.address == address else False
            detail = f"pid {entry.pid}, log {entry.log}"
            if entry.address != address:
                detail += f"; listening on {entry.address}, not the configured {address}"
            return ComponentStatus(name, "running", entry.address, ok, True, detail)
        if healthy(port):
            return ComponentStatus(name, "external", address, True, False, "answers, but not started by coursectl")
        if probe.port_in_use(port):
            held = f"port {port} is held by another program that is not a {name}"
            return ComponentStatus(name, "external", address, False, False, held)
        if entry and entry.started_by_us:
            return ComponentStatus(
                name, "stopped", address, False, True, f"pid {entry.pid} is gone; see {entry.log}"
            )
        return ComponentStatus(name, "absent", address, False, False, "not running")

    def _image_status(self, manifest: Manifest, eng: ComponentStatus) -> ComponentStatus:
        image = self.settings.base_image
        entry = manifest.get("base-image")
        ours = bool(entry and entry.address == image)
        if not eng.healthy:
            return ComponentStatus(
                "base-image", "absent", image, False, ours, "engine not reachable; cannot check"
            )
        try:
            found = baseimage.image_id(eng.address, image)
        except Exception as exc:  # noqa: BLE001 - status never fails on one component
            return ComponentStatus("base-image", "absent", image, False, ours, str(exc))
        if not found:
            return ComponentStatus(
                "base-image", "absent", image, False, ours, "not in the engine; `sandbox up` builds it"
            )
        detail = found[:19]
        if entry and ours:
            detail += f", {entry.extra.get('action')} in {entry.extra.get('seconds')} s"
        return ComponentStatus("base-image", "present", image, True, ours, detail)

    def _manifest(self) -> Manifest:
        return Manifest.load(self.manifest_path)

    def __repr__(self) -> str:
        return f"Sandbox({str(self.state_dir)!r})"
