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

COMPONENTS: tuple[str, ...] = ("engine", "registry", "prometheus", "base-image")


@dataclass(frozen=True)
class SandboxSettings:
    """What the sandbox runs where. Ports are on 127.0.0.1 only."""

    registry_port: int = 5000
    prometheus_port: int = 9090
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

    def __post_init__(self) -> None:
        problems = [
            f"{name}: expected a TCP port 1..65535, got {port!r}"
            for name, port in (("registry_port", self.registry_port), ("prometheus_port", self.prometheus_port))
            if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
        ]
        if not problems and self.registry_port == self.prometheus_port:
            problems.append(f"registry_port and prometheus_port are both {self.registry_port}")
        if ":" not in self.base_image.rsplit("/", 1)[-1]:
            problems.append(f"base_image: expected name:tag, got {self.base_image!r}")
        if problems:
            raise ConfigError([ConfigProblem(file="sandbox settings", path="", message=p) for p in problems])


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
