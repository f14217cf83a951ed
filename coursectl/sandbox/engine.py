"""Find a Docker engine that answers, or start and stop a private dockerd under the state directory."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coursectl.adapters.process import run
from coursectl.errors import ExternalError, PreconditionError, ToolMissing
from coursectl.sandbox import daemon, pids
from coursectl.sandbox.layout import EnginePaths

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "/var/run/docker.sock"
DOCKERD = "/usr/sbin/dockerd"


def dockerd_argv(paths: EnginePaths, *, storage_driver: str | None = None, dockerd: str = DOCKERD) -> list[str]:
    """The command line of the private dockerd: own roots and socket, no bridge, no iptables, no NAT."""
    argv = [
        dockerd,
        "--data-root", str(paths.data_root),
        "--exec-root", str(paths.exec_root),
        "-H", paths.url,
        "--pidfile", str(paths.pidfile),
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--userland-proxy=false",
        "--live-restore=false",
    ]  # fmt: skip
    if storage_driver:
        argv += ["--storage-driver", storage_driver]
    return argv


def mounts_under(mountinfo: str, root: Path) -> list[str]:
    """Mount points at or below ``root`` in a /proc/self/mountinfo text, deepest first."""
    prefix = str(root).rstrip("/")
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def release_mounts(paths: EnginePaths) -> list[str]:
    """Unmount what a stopped dockerd left under its exec-root (``netns/default``) or data-root (after a crash),
    and remove a /run exec-root. Call only when no process of the engine runs any more."""
    done = []
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        mountinfo = ""
    points = mounts_under(mountinfo, paths.exec_root) + mounts_under(mountinfo, paths.data_root)
    for point in sorted(points, key=lambda p: (-p.count("/"), p)):
        result = run(["umount", point], timeout=30, check=False)
        if result.returncode == 0:
            done.append(f"engine: unmounted {point}")
        else:
            log.warning("could not unmount %s: %s", point, result.tail(2))
    short = paths.exec_root.parent
    if short.parent == Path("/run") and short.name.startswith("coursectl-"):
        shutil.rmtree(short, ignore_errors=True)
    return done


def candidates(environ: Mapping[str, str]) -> list[str]:
    """Engine URLs to try, in order: ``DOCKER_HOST`` when set, then the default socket."""
    out = []
    if environ.get("DOCKER_HOST"):
        out.append(environ["DOCKER_HOST"])
    default = f"unix://{DEFAULT_SOCKET}"
    if default not in out:
        out.append(default)
    return out


def ping(url: str, *, timeout: float = 3.0) -> bool:
    """True when a Docker engine answers at ``url``."""
    if url.startswith("unix://") and not Path(url[len("unix://") :]).exists():
        return False
    import docker

    try:
        client = docker.APIClient(base_url=url, timeout=timeout, version="auto")
    except Exception:  # noqa: BLE001 - any failure to connect means "does not answer"
        return False
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False
    finally:
        client.close()


def describe(url: str) -> dict[str, Any]:
    """Version and storage driver of the engine at ``url`` (empty when it does not answer)."""
    import docker

    try:
        client = docker.APIClient(base_url=url, timeout=5, version="auto")
        try:
            info = client.info()
        finally:
            client.close()
    except Exception:  # noqa: BLE001
        return {}
    return {"version": info.get("ServerVersion", "?"), "driver": info.get("Driver", "?")}


def find_external(environ: Mapping[str, str] | None = None, *, exclude: str | None = None) -> str | None:
    """The URL of a Docker engine that answers (``DOCKER_HOST``, then the default socket), or None."""
    env = os.environ if environ is None else environ
    for url in candidates(env):
        if url != exclude and ping(url):
            return url
    return None


def start_private(paths: EnginePaths, *, storage_driver: str | None, timeout: float) -> daemon.Started:
    """Start a private dockerd at ``paths`` and wait until it answers."""
    if os.geteuid() != 0:
        raise PreconditionError(
            "no Docker engine answers (DOCKER_HOST, /var/run/docker.sock) and a private dockerd needs root",
            hint="start Docker and set DOCKER_HOST, or run `coursectl sandbox up` as root",
        )
    if not Path(DOCKERD).exists() and not shutil.which("dockerd"):
        raise ToolMissing("dockerd is not installed", hint="apt-get install docker.io")
    binary = DOCKERD if Path(DOCKERD).exists() else str(shutil.which("dockerd"))
    for folder in (paths.data_root, paths.exec_root, paths.pidfile.parent, paths.log.parent):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if paths.socket.exists() and not ping(paths.url):
        paths.socket.unlink()  # left behind by a dockerd that was killed
    with contextlib.suppress(FileNotFoundError):
        stale_pid = int(paths.pidfile.read_text().strip() or 0)
        holder = pids.info(stale_pid) if stale_pid else None
        if holder and str(paths.data_root) in holder.command:
            raise PreconditionError(
                f"a dockerd (pid {stale_pid}) still holds {paths.pidfile} but does not answer on {paths.socket}",
                hint=f"stop it (kill {stale_pid}) or run `coursectl sandbox down`, then retry",
            )
    env = {"PATH": f"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{os.environ.get('PATH', '')}"}
    return daemon.start(
        "engine (dockerd)",
        dockerd_argv(paths, storage_driver=storage_driver, dockerd=binary),
        log_path=paths.log,
        ready=lambda: ping(paths.url, timeout=2),
        timeout=timeout,
        env=env,
    )


def remove_containers(url: str, *, timeout: float = 30.0) -> list[str]:
    """Force-remove every container of the engine at ``url``; returns their names."""
    import docker

    removed: list[str] = []
    try:
        client = docker.DockerClient(base_url=url, timeout=timeout, version="auto")
    except Exception:  # noqa: BLE001
        return removed
    try:
        for container in client.containers.list(all=True):
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed.append(container.name)
    except Exception as exc:  # noqa: BLE001 - the engine may already be going away
        log.warning("could not list containers at %s: %s", url, exc)
    finally:
        client.close()
    return removed


def stop_private(paths: EnginePaths, pid: int | None, start: int | None, *, timeout: float = 40.0) -> list[str]:
    """Stop the private engine: its containers, dockerd, then any containerd or shim left behind."""
    done: list[str] = []
    if ping(paths.url):
        containers = remove_containers(paths.url)
        if containers:
            done.append(f"engine: removed containers {', '.join(sorted(containers))}")
    if pid and pids.terminate(pid, start, timeout=timeout):
        done.append(f"engine: stopped dockerd (pid {pid})")
    leftovers = pids.matching(paths.needles())
    for proc in leftovers:
        if pids.terminate(proc.pid, proc.starttime, timeout=10):
            done.append(f"engine: stopped leftover {Path(proc.cmdline[0]).name} (pid {proc.pid})")
    if pids.matching(paths.needles()):
        raise ExternalError(
            f"engine: processes of the private dockerd are still running after stop; see {paths.log}",
            details={"pids": [p.pid for p in pids.matching(paths.needles())]},
        )
    with contextlib.suppress(FileNotFoundError):
        paths.socket.unlink()
    done += release_mounts(paths)
    return done
