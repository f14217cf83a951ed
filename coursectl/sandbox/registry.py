"""Run a Registry v2 (Debian ``docker-registry``) on 127.0.0.1 with htpasswd auth and filesystem storage."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from coursectl.adapters import http_probe
from coursectl.adapters.process import run
from coursectl.errors import ExternalError, PreconditionError, ToolMissing
from coursectl.paths import write_private
from coursectl.render.templates import render
from coursectl.sandbox import daemon, probe
from coursectl.sandbox.credentials import Credentials

REGISTRY_BINARY = "docker-registry"
REALM = "coursectl-sandbox"


@dataclass(frozen=True)
class RegistryPaths:
    """Where the sandbox registry keeps its configuration, password file, blobs and log."""

    config: Path
    htpasswd: Path
    storage: Path
    log: Path


def registry_paths(sandbox_dir: Path) -> RegistryPaths:
    base = sandbox_dir / "registry"
    return RegistryPaths(
        config=base / "config.yml",
        htpasswd=base / "htpasswd",
        storage=base / "storage",
        log=sandbox_dir / "logs" / "registry.log",
    )


def render_config(paths: RegistryPaths, *, port: int, http_secret: str) -> str:
    """The registry's config.yml: listen on 127.0.0.1:port, htpasswd auth, filesystem storage."""
    return render(
        "sandbox/registry.yml.j2",
        storage_dir=str(paths.storage),
        port=port,
        http_secret=http_secret,
        realm=REALM,
        htpasswd_path=str(paths.htpasswd),
    )


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def healthy(port: int) -> bool:
    """True when a registry with auth answers on the port (``/v2/`` says 401 without credentials)."""
    return http_probe.http_status(f"{url(port)}/v2/") in (200, 401)


def write_htpasswd(path: Path, creds: Credentials) -> None:
    """Write a bcrypt htpasswd file for ``creds``; the password goes through stdin, never argv."""
    if not shutil.which("htpasswd"):
        raise ToolMissing("htpasswd is not installed", hint="apt-get install apache2-utils")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        result = run(["htpasswd", "-B", "-i", "-n", creds.username], input=creds.password + "\n", timeout=30)
    except ExternalError as exc:
        raise ExternalError(f"registry: could not create the password file {path}: {exc.message}") from exc
    write_private(tmp, result.stdout.strip() + "\n")
    tmp.replace(path)


def start(sandbox_dir: Path, creds: Credentials, *, port: int, timeout: float) -> daemon.Started:
    """Render the configuration, write the password file and start the registry on 127.0.0.1:port."""
    binary = shutil.which(REGISTRY_BINARY)
    if not binary:
        raise ToolMissing("docker-registry is not installed", hint="apt-get install docker-registry")
    if probe.port_in_use(port):
        raise PreconditionError(
            f"registry: port 127.0.0.1:{port} is already in use by another program",
            hint="stop that program or choose another registry port (Debian's docker-registry package starts "
            "its own service on :5000: systemctl disable --now docker-registry)",
        )
    paths = registry_paths(sandbox_dir)
    paths.storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths.log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_htpasswd(paths.htpasswd, creds)
    write_private(paths.config, render_config(paths, port=port, http_secret=secrets.token_hex(32)))
    return daemon.start(
        f"registry on 127.0.0.1:{port}",
        [binary, "serve", str(paths.config)],
        log_path=paths.log,
        ready=lambda: healthy(port),
        timeout=timeout,
    )
