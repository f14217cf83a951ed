"""An SDK failure deep inside an adapter reaches the user as a coursectl error: its exit code, a message that
names what failed, no traceback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.adapters.haproxy import HAProxyEdge
from coursectl.cli import main
from coursectl.testing.drill import free_port

CONFIG = """project: t
services:
  course: {{path: course, port: 8002}}
registry: {{url: "127.0.0.1:1"}}
environments:
  nowhere:
    target: docker
    docker_host: "unix://{sock}"
    edge: {{bind: "127.0.0.1:{edge}", stats_bind: "127.0.0.1:{stats}"}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    config = tmp_path / "coursectl.yaml"
    config.write_text(CONFIG.format(sock=tmp_path / "no-engine.sock", edge=free_port(), stats=free_port()))
    state = tmp_path / "state"
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(state))
    monkeypatch.setenv("COURSECTL_CONFIG", str(config))
    monkeypatch.delenv("COURSECTL_DEBUG", raising=False)
    yield tmp_path
    HAProxyEdge(state / "edge" / "nowhere", services={}).stop()


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")
def test_deploy_to_an_engine_that_is_not_there_is_exit_4_without_a_traceback(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", "course", "--env", "nowhere", "--version", "v1"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "docker engine" in err and "no-engine.sock does not exist" in err and "sandbox up" in err
    assert "Traceback" not in err


def test_status_with_the_engine_gone_reports_it_as_a_problem(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--env", "nowhere", "-o", "json"]) == 0
    out = capsys.readouterr().out
    assert "course: target: the docker engine at unix://" in out and "does not exist" in out
