"""Fixtures for the kubernetes target: the recorded-answers API server, a configuration pointing at it, and the
real adapters (KubeApi, KubernetesTarget, KubernetesRouter) wired the way ``coursectl`` wires them.

Usable by the Target / TrafficRouter contract suite: ``kube_rig`` gives a target and a router on the fixture
server, with services of at most 3 pods (the recorded Deployment statuses count 3).
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, NO_FIXTURES
from tests.support.kube_server import KubeFixtureServer

pytestmark = pytest.mark.skipif(not (FIXTURES / "kubernetes").is_dir(), reason=NO_FIXTURES)

DIGEST1 = "sha256:" + "1" * 64
DIGEST2 = "sha256:" + "2" * 64
DIGEST3 = "sha256:" + "3" * 64


def k8s_config(
    kubeconfig: Path,
    *,
    strategy: str = "blue-green",
    traffic: str = "replicas",
    replicas: int = 3,
    smoke: bool = True,
    extra_env: str = "",
    public_url: str | None = None,
) -> str:
    """A coursectl.yaml with two services and one kubernetes environment ``k`` in namespace ``course``."""
    public = f"\n    public_url: {public_url}" if public_url else ""
    return textwrap.dedent(f"""\
        project: course-platform
        default_environment: k
        services:
          course: {{path: platform-services/course, port: 8080, callers: [web],
                    secrets: {{JWT_SECRET: {{env: JWT_SECRET}}}}}}
          web: {{path: platform-services/web, port: 8081}}
        registry: {{url: registry.local, namespace: course}}
        analysis:
          interval: 10s
          failure_limit: 1
          metrics:
            - {{name: error-rate, max: 0.01}}
        environments:
          k:
            target: kubernetes
            context: fixture
            namespace: course
            strategy: {strategy}
            scale_down_delay: 30s
            ready_timeout: 60s
            prometheus_url: http://127.0.0.1:9
            steps: [{{weight: 20, pause: 20s}}, {{weight: 50, pause: 20s}}]{public}
            kubernetes:
              kubeconfig: {kubeconfig}
              traffic: {traffic}
              replicas: {replicas}
              smoke: {str(smoke).lower()}
              ingress: {{host: course.example.test}}
        {extra_env}""")


@pytest.fixture
def kube() -> Iterator[KubeFixtureServer]:
    server = KubeFixtureServer(namespace="course").start()
    server.secrets.add("course-platform")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(kube: KubeFixtureServer, tmp_path: Path) -> Path:
    return kube.kubeconfig(tmp_path / "kubeconfig")


class Backend:
    """A real HTTP server standing for a service's pods behind the preview Service (the fixture server's
    proxy forwards to it): answers 200 on every path, or ``status`` once set."""

    def __init__(self) -> None:
        self.status = 200
        self.paths: list[str] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                backend.paths.append(self.path)
                body = b'{"status": "ok"}' if backend.status == 200 else b'{"status": "failing"}'
                self.send_response(backend.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def backend(kube: KubeFixtureServer) -> Iterator[Backend]:
    b = Backend()
    kube.backends["course-preview"] = b.url
    try:
        yield b
    finally:
        b.stop()


def load(tmp_path: Path, text: str) -> Any:
    from coursectl.config import load_config

    path = tmp_path / "coursectl.yaml"
    path.write_text(text)
    return load_config(str(path), "k")


def rig_for(loaded: Any, *, metrics: Any = None, clock: Any = None) -> Any:
    """The wiring's kubernetes rig with a test clock (no sleeping) and scripted metrics."""
    from coursectl.testing.fakes import FrozenClock
    from coursectl.wiring import kubernetes_rig

    rig = kubernetes_rig(loaded, with_metrics=False)
    rig.clock = clock or FrozenClock()
    rig.target.clock = rig.clock
    rig.metrics = metrics
    return rig


@pytest.fixture
def kube_rig(kube: KubeFixtureServer, kubeconfig: Path, tmp_path: Path) -> Any:
    """Target and router of a blue-green kubernetes environment on the fixture server (contract suites)."""
    return rig_for(load(tmp_path, k8s_config(kubeconfig, smoke=False)))
