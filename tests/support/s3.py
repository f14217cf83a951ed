"""Pytest plugin: a real S3 HTTP endpoint (moto in server mode) on a free 127.0.0.1 port, and fresh buckets."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.servers import ManagedProcess, free_port, wait_until


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    access_key: str = "coursectl-test-access-key"
    secret_key: str = "coursectl-test-secret-key-0123456789"
    region: str = "us-east-1"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """moto's S3 server (``moto[server]`` from the test extras) as its own process."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        pytest.fail("moto[server] is not installed: pip install -e '.[test]' (scripts/setup.sh does)")
    port = free_port()
    base = tmp_path_factory.mktemp("moto")
    env = {**os.environ, "MOTO_PORT": str(port), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    server = ManagedProcess("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            log=base / "moto.log", env=env).start()
    endpoint = S3Endpoint(f"http://127.0.0.1:{port}")
    try:
        wait_until(lambda: endpoint.client().list_buckets() is not None, 60, "moto S3 server", proc=server.proc,
                   log=base / "moto.log")
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint) -> Callable[[], str]:
    """Makes a fresh, empty bucket and returns its name."""

    def make() -> str:
        name = f"coursectl-{secrets.token_hex(6)}"
        s3_server.client().create_bucket(Bucket=name)
        return name

    return make
