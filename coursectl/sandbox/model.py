"""Value types of the sandbox: its settings and the status of each component."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from coursectl.errors import ConfigError, ConfigProblem

ComponentState = Literal["running", "stopped", "external", "absent", "present"]
"""``running``: a daemon we started answers or is starting; ``stopped``: we started it once, it is gone now;
``external``: something we did not start provides it; ``absent``: nothing provides it;
``present``: the base image exists in the engine (images are not processes, so never ``running``)."""

COMPONENTS: tuple[str, ...] = (
    "engine",
    "registry",
    "prometheus",
    "alertmanager",
    "blackbox",
    "node-exporter",
    "receiver",
    "base-image",
)
"""``receiver`` (coursectl's Alertmanager webhook receiver and ledger exporter) is listed only when the sandbox
is told how to start it (``SandboxSettings.receiver_argv``: the CLI passes its own command with the config)."""


@dataclass(frozen=True)
class SandboxSettings:
    """What the sandbox runs where. Ports are on 127.0.0.1 only."""

    registry_port: int = 5000
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    blackbox_port: int = 9115
    node_exporter_port: int = 9100
    receiver_port: int = 9097
    base_image: str = "coursectl/base:bookworm"
    registry_user: str = "coursectl"
    cache_dir: Path | None = None
    """Where the debootstrapped rootfs tarball is cached; default ``<state_dir>/cache``. Share it between
    state directories to build the base image only once per machine."""
    storage_driver: str | None = None
    """The private dockerd's storage driver; None lets dockerd pick (overlay2 where the kernel allows)."""
    suite: str = "bookworm"
    mirror: str | None = None
    """Debian mirror for debootstrap; None takes it from the host's apt sources."""
    start_timeout: float = 60.0
    """Seconds to wait for each daemon to answer after it was started."""
    receiver_argv: tuple[str, ...] | None = None
    """How to start coursectl's receiver (``coursectl -c CONFIG observability receive --listen ...``); None: the
    sandbox neither starts nor lists it (Alertmanager still posts to ``receiver_port``)."""
    rule_files: tuple[tuple[str, str], ...] = ()
    """(file name, YAML) of Prometheus rule files written to ``prometheus/rules/`` (Prometheus is reloaded when
    they change)."""
    alertmanager_config: str | None = None
    """alertmanager.yml; None: the default routing to the receiver on ``receiver_port``."""
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"

    def __post_init__(self) -> None:
        problems = [
            f"{name}: expected a TCP port 1..65535, got {port!r}"
            for name, port in self.ports().items()
            if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
        ]
        if not problems:
            seen: dict[int, str] = {}
            for name, port in self.ports().items():
                if port in seen:
                    problems.append(f"{seen[port]} and {name} are both {port}")
                seen[port] = name
        if ":" not in self.base_image.rsplit("/", 1)[-1]:
            problems.append(f"base_image: expected name:tag, got {self.base_image!r}")
        if problems:
            raise ConfigError([ConfigProblem(file="sandbox settings", path="", message=p) for p in problems])

    def ports(self) -> dict[str, int]:
        return {
            "registry_port": self.registry_port,
            "prometheus_port": self.prometheus_port,
            "alertmanager_port": self.alertmanager_port,
            "blackbox_port": self.blackbox_port,
            "node_exporter_port": self.node_exporter_port,
            "receiver_port": self.receiver_port,
        }


@dataclass(frozen=True)
class ComponentStatus:
    """One component of the sandbox as seen now."""

    name: str
    state: ComponentState
    address: str
    healthy: bool
    started_by_us: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of this component."""
        return {
            "name": self.name,
            "state": self.state,
            "address": self.address,
            "healthy": self.healthy,
            "started_by_us": self.started_by_us,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SandboxStatus:
    """Every component of the sandbox, plus what the call that produced it changed (empty: nothing)."""

    state_dir: Path
    components: tuple[ComponentStatus, ...]
    changes: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        """True when every component is healthy."""
        return all(c.healthy for c in self.components)

    @property
    def noop(self) -> bool:
        """True when the call changed nothing (``up`` on a sandbox that was already up)."""
        return not self.changes

    def component(self, name: str) -> ComponentStatus:
        """The status of the component called ``name``."""
        for comp in self.components:
            if comp.name == name:
                return comp
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the whole status, for ``-o json``."""
        return {
            "state_dir": str(self.state_dir),
            "healthy": self.healthy,
            "noop": self.noop,
            "changes": list(self.changes),
            "components": [c.to_dict() for c in self.components],
        }
