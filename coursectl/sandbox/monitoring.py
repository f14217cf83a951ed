"""Run Alertmanager, the blackbox exporter and node exporter (Debian packages) on 127.0.0.1 for the sandbox."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coursectl.adapters import http_probe
from coursectl.errors import PreconditionError, ToolMissing
from coursectl.observability.alertmanager import render_blackbox
from coursectl.sandbox import daemon, probe


@dataclass(frozen=True)
class Daemon:
    """One monitoring daemon of the sandbox: how it is started, checked and named."""

    name: str
    binary: str
    package: str
    health_path: str
    argv: Callable[[str, Path, int], list[str]]
    """(binary, sandbox dir, port) → the command line."""
    prepare: Callable[[Path, int], None] | None = None
    """Write its configuration before it starts."""

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def healthy(self, port: int) -> bool:
        return http_probe.http_status(f"{self.url(port)}{self.health_path}") == 200

    def config_needles(self, sandbox_dir: Path) -> list[str]:
        """Strings only the command line of our instance contains (to find leftovers)."""
        return [str(sandbox_dir / self.name) + "/"]


def alertmanager_dir(sandbox_dir: Path) -> Path:
    return sandbox_dir / "alertmanager"


def alertmanager_config_path(sandbox_dir: Path) -> Path:
    """Where ``sandbox up`` (and ``coursectl observability render --sandbox``) keep alertmanager.yml."""
    return alertmanager_dir(sandbox_dir) / "alertmanager.yml"


def _alertmanager_argv(binary: str, sandbox_dir: Path, port: int) -> list[str]:
    base = alertmanager_dir(sandbox_dir)
    return [
        binary,
        f"--config.file={base / 'alertmanager.yml'}",
        f"--storage.path={base / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip port: one instance, loopback only
    ]


def _alertmanager_prepare(sandbox_dir: Path, port: int) -> None:
    (alertmanager_dir(sandbox_dir) / "data").mkdir(parents=True, exist_ok=True, mode=0o700)


def _blackbox_argv(binary: str, sandbox_dir: Path, port: int) -> list[str]:
    return [
        binary,
        f"--config.file={sandbox_dir / 'blackbox' / 'blackbox.yml'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]


def _blackbox_prepare(sandbox_dir: Path, port: int) -> None:
    folder = sandbox_dir / "blackbox"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / "blackbox.yml").write_text(render_blackbox(), encoding="utf-8")


def node_textfile_dir(sandbox_dir: Path) -> Path:
    """node exporter's textfile collector folder (``coursectl observability textfile`` can write there)."""
    return sandbox_dir / "node-exporter" / "textfile"


def _node_argv(binary: str, sandbox_dir: Path, port: int) -> list[str]:
    return [
        binary,
        f"--web.listen-address=127.0.0.1:{port}",
        f"--collector.textfile.directory={node_textfile_dir(sandbox_dir)}",
    ]


def _node_prepare(sandbox_dir: Path, port: int) -> None:
    node_textfile_dir(sandbox_dir).mkdir(parents=True, exist_ok=True, mode=0o700)


ALERTMANAGER = Daemon(
    "alertmanager", "prometheus-alertmanager", "prometheus-alertmanager", "/-/ready", _alertmanager_argv
)
BLACKBOX = Daemon(
    "blackbox",
    "prometheus-blackbox-exporter",
    "prometheus-blackbox-exporter",
    "/-/healthy",
    _blackbox_argv,
    _blackbox_prepare,
)
NODE_EXPORTER = Daemon(
    "node-exporter", "prometheus-node-exporter", "prometheus-node-exporter", "/metrics", _node_argv, _node_prepare
)
DAEMONS: tuple[Daemon, ...] = (ALERTMANAGER, BLACKBOX, NODE_EXPORTER)


def start(d: Daemon, sandbox_dir: Path, *, port: int, timeout: float) -> daemon.Started:
    """Write the daemon's configuration and start it on 127.0.0.1:port."""
    binary = shutil.which(d.binary)
    if not binary:
        raise ToolMissing(f"{d.binary} is not installed", hint=f"apt-get install {d.package}")
    if probe.port_in_use(port):
        raise PreconditionError(
            f"{d.name}: port 127.0.0.1:{port} is already in use by another program",
            hint=f"stop that program (Debian may start a {d.package} service) or choose another port",
        )
    folder = sandbox_dir / d.name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (sandbox_dir / "logs").mkdir(parents=True, exist_ok=True, mode=0o700)
    if d.prepare is not None:
        d.prepare(sandbox_dir, port)
    return daemon.start(
        f"{d.name} on 127.0.0.1:{port}",
        d.argv(binary, sandbox_dir, port),
        log_path=sandbox_dir / "logs" / f"{d.name}.log",
        ready=lambda: d.healthy(port),
        timeout=timeout,
    )


def start_receiver(argv: Sequence[str], sandbox_dir: Path, *, port: int, timeout: float) -> daemon.Started:
    """Start coursectl's webhook receiver and ledger exporter (``argv`` given by the caller) on 127.0.0.1:port,
    with this sandbox's state directory (its ledger and secrets.env)."""
    if probe.port_in_use(port):
        raise PreconditionError(
            f"receiver: port 127.0.0.1:{port} is already in use by another program",
            hint="choose another sandbox.receiver_port",
        )
    (sandbox_dir / "logs").mkdir(parents=True, exist_ok=True, mode=0o700)
    return daemon.start(
        f"receiver on 127.0.0.1:{port}",
        list(argv),
        log_path=sandbox_dir / "logs" / "receiver.log",
        ready=lambda: receiver_healthy(port),
        timeout=timeout,
        env={"COURSECTL_STATE_DIR": str(sandbox_dir.parent)},
    )


def receiver_healthy(port: int) -> bool:
    return http_probe.http_status(f"http://127.0.0.1:{port}/healthz") == 200
