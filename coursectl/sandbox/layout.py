"""Where the sandbox of a state directory keeps things, and the addresses other commands need from it.

Standard library only: ``status``, ``deploy`` and the metrics provider ask for the engine's address, the
file_sd folder or Prometheus's URL without importing the sandbox's machinery (coursectl/sandbox/manager.py
answers the same from here).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; containerd adds ".ttrpc" to its socket name


@dataclass(frozen=True)
class EnginePaths:
    """Where a private dockerd keeps its data, runtime state, socket, pid file and log."""

    data_root: Path
    exec_root: Path
    socket: Path
    pidfile: Path
    log: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def needles(self) -> tuple[str, ...]:
        """Strings in the command line of every process this engine runs (dockerd, containerd, shims)."""
        return (f"{self.data_root}", f"{self.exec_root}/", f"{self.socket}")


def engine_paths(sandbox_dir: Path) -> EnginePaths:
    """The private engine's paths under ``sandbox_dir``; runtime sockets go to a short /run path if needed."""
    exec_root = sandbox_dir / "engine" / "exec"
    socket = sandbox_dir / "docker.sock"
    short = Path("/run") / f"coursectl-{hashlib.sha256(str(sandbox_dir).encode()).hexdigest()[:12]}"
    if len(str(exec_root / "containerd" / "containerd.sock.ttrpc")) > _SOCKET_PATH_MAX:
        exec_root = short / "exec"
    if len(str(socket)) > _SOCKET_PATH_MAX:
        socket = short / "docker.sock"
    return EnginePaths(
        data_root=sandbox_dir / "engine" / "data",
        exec_root=exec_root,
        socket=socket,
        pidfile=sandbox_dir / "engine" / "dockerd.pid",
        log=sandbox_dir / "logs" / "dockerd.log",
    )


@dataclass(frozen=True)
class PrometheusPaths:
    """Where the sandbox Prometheus keeps its configuration, file_sd targets, database and log."""

    config: Path
    file_sd: Path
    storage: Path
    log: Path
    rules: Path

    @property
    def probes(self) -> Path:
        """file_sd folder of the blackbox job (edge routes to probe)."""
        return self.file_sd / "probes"


def prometheus_paths(sandbox_dir: Path) -> PrometheusPaths:
    base = sandbox_dir / "prometheus"
    return PrometheusPaths(
        config=base / "prometheus.yml",
        file_sd=base / "file_sd",
        storage=base / "data",
        log=sandbox_dir / "logs" / "prometheus.log",
        rules=base / "rules",
    )


def sandbox_dir(state_dir: Path) -> Path:
    return Path(state_dir).absolute() / "sandbox"


def manifest_path(state_dir: Path) -> Path:
    """``<state_dir>/sandbox/sandbox.json``: present once ``coursectl sandbox up`` has run there."""
    return sandbox_dir(state_dir) / "sandbox.json"


def exists(state_dir: Path) -> bool:
    """Whether a sandbox was brought up in ``state_dir``."""
    return manifest_path(state_dir).is_file()


def docker_host(state_dir: Path) -> str | None:
    """The engine ``coursectl sandbox up`` started or found in ``state_dir`` (ours, or the external one it
    found); None when there is no sandbox there. PreconditionError when its manifest is unreadable."""
    from coursectl.sandbox.manifest import Manifest

    path = manifest_path(state_dir)
    if not path.is_file():
        return None
    entry = Manifest.load(path).get("engine")
    return entry.address if entry else engine_paths(path.parent).url


def file_sd_dir(state_dir: Path) -> Path:
    """The folder the sandbox's Prometheus reads coursectl's scrape targets from (``<name>.json``)."""
    return prometheus_paths(sandbox_dir(state_dir)).file_sd


def prometheus_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"
