"""`coursectl sandbox up|status` on the session's real sandbox: JSON shape, no-op, human table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coursectl.cli import main
from coursectl.sandbox import Sandbox
from tests.conftest import MINIMAL_CONFIG

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox_config(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration whose sandbox section names the session sandbox's ports and base image."""
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(sandbox.state_dir))
    path = tmp_path / "coursectl.yaml"
    settings = sandbox.settings
    path.write_text(
        MINIMAL_CONFIG
        + f"sandbox: {{registry_port: {settings.registry_port}, prometheus_port: {settings.prometheus_port},"
        f" alertmanager_port: {settings.alertmanager_port}, blackbox_port: {settings.blackbox_port},"
        f" node_exporter_port: {settings.node_exporter_port}, receiver_port: {settings.receiver_port},"
        f" base_image: {settings.base_image}}}\n"
    )
    return path


COMPONENTS = ["engine", "registry", "prometheus", "alertmanager", "blackbox", "node-exporter", "receiver",
              "base-image"]


def test_up_again_is_a_reported_no_op(sandbox_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the first `up` with this configuration brings its rules and its receiver; the second changes nothing
    assert main(["-c", str(sandbox_config), "sandbox", "up", "-o", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["healthy"] is True, first
    assert main(["-c", str(sandbox_config), "sandbox", "up", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["noop"] is True and data["healthy"] is True, data
    assert [c["name"] for c in data["components"]] == COMPONENTS
    assert main(["-c", str(sandbox_config), "sandbox", "up"]) == 0
    assert "already up: nothing to do" in capsys.readouterr().out


def test_status_shows_every_component_with_address_and_health(
    sandbox: Sandbox, sandbox_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(sandbox_config), "sandbox", "up", "-o", "quiet"]) == 0  # its receiver runs
    capsys.readouterr()
    assert main(["-c", str(sandbox_config), "sandbox", "status"]) == 0
    out = capsys.readouterr().out
    for needle in (sandbox.registry_address(), sandbox.prometheus_url(), sandbox.settings.base_image,
                   sandbox.alertmanager_url(), sandbox.receiver_url()):
        assert needle in out
    assert main(["-c", str(sandbox_config), "sandbox", "status", "-o", "quiet"]) == 0
    assert capsys.readouterr().out.split() == COMPONENTS
