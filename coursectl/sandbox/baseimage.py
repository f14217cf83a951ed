"""Provide the platform's base image: debootstrap Debian into a cached rootfs tarball, then ``docker import``."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coursectl.adapters.process import run
from coursectl.errors import ExternalError, PreconditionError, ToolMissing

log = logging.getLogger(__name__)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
INCLUDE = ("python3", "python3-venv", "nginx-light", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
)
DEBOOTSTRAP_TIMEOUT = 1200.0


@dataclass(frozen=True)
class BaseImageResult:
    """What ``ensure`` did: ``present`` (nothing), ``imported`` (from the cached tarball) or ``built``."""

    image: str
    action: str
    image_id: str
    seconds: float


def parse_deb822(text: str, suite: str) -> str | None:
    """The first http(s) URI of a deb822 ``.sources`` text whose Suites include ``suite``."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            if ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        if suite not in fields.get("suites", "").split():
            continue
        for uri in fields.get("uris", "").split():
            if uri.startswith(("http://", "https://")):
                return uri.rstrip("/")
    return None


def parse_one_line(text: str, suite: str) -> str | None:
    """The first http(s) URI of a one-line ``sources.list`` text whose suite is ``suite``."""
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2 and words[1] == suite and words[0].startswith(("http://", "https://")):
            return words[0].rstrip("/")
    return None


def detect_mirror(suite: str = "bookworm", apt_dir: Path = Path("/etc/apt")) -> str:
    """The host's Debian mirror for ``suite`` from its apt sources, else deb.debian.org."""
    files = sorted((apt_dir / "sources.list.d").glob("*.sources")) if (apt_dir / "sources.list.d").is_dir() else []
    for path in files:
        found = parse_deb822(path.read_text(encoding="utf-8", errors="replace"), suite)
        if found:
            return found
    lists = [apt_dir / "sources.list"]
    if (apt_dir / "sources.list.d").is_dir():
        lists += sorted((apt_dir / "sources.list.d").glob("*.list"))
    for path in lists:
        if path.is_file():
            found = parse_one_line(path.read_text(encoding="utf-8", errors="replace"), suite)
            if found:
                return found
    return DEFAULT_MIRROR


def debootstrap_argv(rootfs: Path, *, suite: str, mirror: str, include: tuple[str, ...] = INCLUDE) -> list[str]:
    """The debootstrap command line for the minimal rootfs."""
    return ["debootstrap", "--variant=minbase", f"--include={','.join(include)}", suite, str(rootfs), mirror]


def tarball_name(suite: str, include: tuple[str, ...] = INCLUDE) -> str:
    """The cache file name: changes whenever the suite or the package list does."""
    key = hashlib.sha256(json.dumps([suite, sorted(include), sorted(CHANGES)]).encode()).hexdigest()[:12]
    return f"rootfs-{suite}-minbase-{key}.tar"


def build_tarball(cache_dir: Path, *, suite: str, mirror: str, log_path: Path) -> Path:
    """debootstrap the rootfs, copy the host CA bundle in and pack it as ``cache_dir/<tarball_name>``."""
    if not shutil.which("debootstrap"):
        raise ToolMissing("debootstrap is not installed", hint="apt-get install debootstrap")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / tarball_name(suite)
    rootfs = cache_dir / f".rootfs-{suite}.tmp"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    try:
        argv = debootstrap_argv(rootfs, suite=suite, mirror=mirror)
        done = run(argv, timeout=DEBOOTSTRAP_TIMEOUT, check=False)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as out:
            out.write(f"--- coursectl: {' '.join(argv)} (exit {done.returncode})\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            raise ExternalError(
                f"base-image: debootstrap failed with exit code {done.returncode}; "
                f"see {log_path}:\n{done.tail(8)}",
                hint=f"check that {mirror} is reachable; read {log_path} and {rootfs}/debootstrap/debootstrap.log",
            )
        if HOST_CA_BUNDLE.is_file():
            shutil.copyfile(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        for leftover in (rootfs / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        for leftover in (rootfs / "var/lib/apt/lists").glob("*_*"):
            leftover.unlink()
        partial = target.with_name(f".{target.name}.tmp")
        run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(partial), "."], timeout=600)
        partial.replace(target)
    finally:
        if rootfs.exists():
            shutil.rmtree(rootfs, ignore_errors=True)
    return target


def image_id(docker_url: str, image: str) -> str | None:
    """The id of ``image`` in the engine at ``docker_url``, or None when it is not there."""
    import docker
    from docker.errors import DockerException, ImageNotFound

    try:
        client = docker.APIClient(base_url=docker_url, timeout=30, version="auto")
        try:
            return str(client.inspect_image(image)["Id"])
        finally:
            client.close()
    except ImageNotFound:
        return None
    except DockerException as exc:
        raise ExternalError(f"base-image: cannot ask the engine at {docker_url} for {image}: {exc}") from exc


def import_tarball(docker_url: str, tarball: Path, image: str) -> str:
    """``docker import`` the rootfs tarball as ``image``; returns the image id."""
    import docker
    from docker.errors import DockerException

    repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    try:
        client = docker.APIClient(base_url=docker_url, timeout=900, version="auto")
        try:
            answer = client.import_image_from_file(
                str(tarball), repository=repository, tag=tag, changes=list(CHANGES)
            )
        finally:
            client.close()
    except DockerException as exc:
        raise ExternalError(f"base-image: docker import of {tarball} failed: {exc}") from exc
    for line in str(answer).splitlines():
        if '"error"' in line or '"errorDetail"' in line:
            raise ExternalError(f"base-image: docker import of {tarball} failed: {line.strip()}")
    found = image_id(docker_url, image)
    if not found:
        raise ExternalError(f"base-image: docker import reported success but {image} is not in the engine")
    return found


def ensure(
    docker_url: str,
    image: str,
    *,
    cache_dir: Path,
    suite: str,
    mirror: str | None,
    log_path: Path,
    progress: Callable[[str], None] | None = None,
) -> BaseImageResult:
    """Make sure ``image`` exists in the engine: no-op if present, else import the cached tarball (built once)."""
    say = progress or (lambda _msg: None)
    began = time.monotonic()
    existing = image_id(docker_url, image)
    if existing:
        return BaseImageResult(image, "present", existing, time.monotonic() - began)
    tarball = cache_dir / tarball_name(suite)
    action = "imported"
    if not tarball.exists():
        mirror = mirror or detect_mirror(suite)
        say(f"base-image: debootstrapping Debian {suite} from {mirror} (about a minute, once per machine)")
        build_tarball(cache_dir, suite=suite, mirror=mirror, log_path=log_path)
        action = "built"
    if not tarball.exists():
        raise PreconditionError(f"base-image: rootfs tarball {tarball} is missing after the build")
    say(f"base-image: importing {tarball.name} as {image}")
    new_id = import_tarball(docker_url, tarball, image)
    return BaseImageResult(image, action, new_id, time.monotonic() - began)
