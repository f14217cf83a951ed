"""`coursectl sandbox down` also stops the HAProxy edges that rollouts started under the state directory."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from coursectl.adapters.haproxy import HAProxyEdge
from coursectl.processes import pid_alive
from coursectl.cli import main

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_down_stops_the_edges_and_keeps_their_files(
    isolated_state: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edges = []
    for env in ("local", "local-canary"):
        edge = HAProxyEdge(
            isolated_state / "edge" / env,
            services={"user": "/health/ready"},
            bind=f"127.0.0.1:{_free_port()}",
            stats_bind=f"127.0.0.1:{_free_port()}",
        )
        edge.ensure_running()
        edges.append((edge, edge.pid()))
    assert all(pid for _, pid in edges)

    assert main(["-c", str(config_file), "sandbox", "down"]) == 0
    out = capsys.readouterr().out
    for edge, pid in edges:
        assert f"edge {edge.workdir.name}: stopped haproxy (pid {pid})" in out
        assert pid is not None and not pid_alive(pid)  # exited (init may not have reaped it yet)
        assert edge.config_path.is_file()  # the next rollout brings it back as it was
    assert main(["-c", str(config_file), "sandbox", "down"]) == 0
    assert "edge" not in capsys.readouterr().out
    assert os.path.isdir(isolated_state / "edge")
