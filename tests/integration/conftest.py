"""Integration fixtures: one real sandbox (engine, registry, Prometheus, base image) per test session.

The state directory is ``$COURSECTL_TEST_STATE_DIR`` or ``<repo>/.state/test-sandbox`` and is kept between runs,
so the base image is built once per machine (the debootstrapped rootfs is cached in ``$COURSECTL_TEST_CACHE_DIR``
or ``<repo>/.state/cache``, shared by every test state directory). ``down()`` runs at the end of the session
unless ``COURSECTL_TEST_KEEP_SANDBOX=1``. Its registry and Prometheus listen on 127.0.0.1:15000 and :19090
(``COURSECTL_TEST_REGISTRY_PORT`` / ``COURSECTL_TEST_PROMETHEUS_PORT``), Alertmanager, the blackbox and node
exporters and the receiver on :19093, :19115, :19100 and :19097, so the tests never collide with the sandbox of
``coursectl sandbox up`` (5000 / 9090 / 9093 / 9115 / 9100 / 9097).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coursectl.sandbox import Credentials, Sandbox, SandboxSettings, engine, pids

REPO = Path(__file__).resolve().parents[2]


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().absolute() if value else default


@pytest.fixture(scope="session")
def sandbox_cache_dir() -> Path:
    """Where the base image's rootfs tarball is cached for every test state directory."""
    return _env_path("COURSECTL_TEST_CACHE_DIR", REPO / ".state" / "cache")


@pytest.fixture(scope="session")
def sandbox_settings(sandbox_cache_dir: Path) -> SandboxSettings:
    return SandboxSettings(
        registry_port=int(os.environ.get("COURSECTL_TEST_REGISTRY_PORT", "15000")),
        prometheus_port=int(os.environ.get("COURSECTL_TEST_PROMETHEUS_PORT", "19090")),
        alertmanager_port=int(os.environ.get("COURSECTL_TEST_ALERTMANAGER_PORT", "19093")),
        blackbox_port=int(os.environ.get("COURSECTL_TEST_BLACKBOX_PORT", "19115")),
        node_exporter_port=int(os.environ.get("COURSECTL_TEST_NODE_EXPORTER_PORT", "19100")),
        receiver_port=int(os.environ.get("COURSECTL_TEST_RECEIVER_PORT", "19097")),
        cache_dir=sandbox_cache_dir,
    )


def _progress(message: str) -> None:
    print(f"[sandbox] {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def sandbox(sandbox_settings: SandboxSettings) -> Iterator[Sandbox]:
    """The sandbox, up (engine, registry with auth, Prometheus, base image) for the whole session."""
    box = Sandbox(_env_path("COURSECTL_TEST_STATE_DIR", REPO / ".state" / "test-sandbox"), sandbox_settings)
    try:
        began = time.monotonic()
        status = box.up(progress=_progress)
        _progress(f"up in {time.monotonic() - began:.1f} s: {'; '.join(status.changes) or 'already up'}")
        yield box
    finally:
        if os.environ.get("COURSECTL_TEST_KEEP_SANDBOX") != "1":
            stopped = box.down()
            _progress(f"down: {'; '.join(stopped) or 'nothing to stop'}")
            left = pids.matching([f"{box.dir}/", *box.engine_paths.needles()])
            assert not left, f"sandbox processes left behind: {[(p.pid, p.command) for p in left]}"
            mountinfo = Path("/proc/self/mountinfo").read_text()
            mounts = engine.mounts_under(mountinfo, box.engine_paths.exec_root) + engine.mounts_under(
                mountinfo, box.engine_paths.data_root
            )
            assert not mounts, f"sandbox mounts left behind: {mounts}"


@pytest.fixture(scope="session")
def docker_client(sandbox: Sandbox) -> Iterator[Any]:
    """A docker SDK client for the sandbox's engine."""
    import docker

    client = docker.DockerClient(base_url=sandbox.docker_host(), timeout=300, version="auto")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def registry_credentials(sandbox: Sandbox) -> Credentials:
    """The sandbox registry's user and password (``.auth_config()`` for the docker SDK)."""
    creds = sandbox.credentials()
    assert creds is not None, "sandbox up did not store registry credentials"
    return creds


HttpGet = Callable[..., tuple[int, Any]]


@pytest.fixture(scope="session")
def http_get() -> HttpGet:
    """GET a 127.0.0.1 URL without proxies: ``(status, parsed JSON or text)``; ``auth=(user, password)``."""

    def get(url: str, *, auth: tuple[str, str] | None = None, timeout: float = 5.0) -> tuple[int, Any]:
        request = urllib.request.Request(url)
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as resp:
                status, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode(errors="replace")
            exc.close()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    return get
