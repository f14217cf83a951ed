"""The sandbox's public surface and the JSON shape of its status."""

from __future__ import annotations

import json
from pathlib import Path

import coursectl.sandbox as sandbox
from coursectl.sandbox import ComponentStatus, SandboxSettings, SandboxStatus


def test_public_surface_is_sorted_and_complete() -> None:
    assert sandbox.__all__ == sorted(sandbox.__all__)
    public = {name for name in vars(sandbox) if not name.startswith("_")}
    modules = {"baseimage", "credentials", "daemon", "engine", "manager", "manifest", "model", "pids", "probe",
               "prometheus", "registry", "annotations"}  # fmt: skip
    assert public - modules == set(sandbox.__all__)


def test_settings_defaults() -> None:
    settings = SandboxSettings()
    assert (settings.registry_port, settings.prometheus_port) == (5000, 9090)
    assert settings.base_image == "coursectl/base:bookworm"
    assert settings.registry_user == "coursectl"


def test_status_to_dict_is_json_and_reports_noop() -> None:
    comps = (
        ComponentStatus("engine", "running", "unix:///s/docker.sock", True, True, "pid 1"),
        ComponentStatus("registry", "absent", "http://127.0.0.1:5000", False, False, "not running"),
    )
    status = SandboxStatus(Path("/s"), comps)
    doc = json.loads(json.dumps(status.to_dict()))
    assert doc["noop"] is True and doc["healthy"] is False and doc["changes"] == []
    assert doc["components"][0] == {
        "name": "engine",
        "state": "running",
        "address": "unix:///s/docker.sock",
        "healthy": True,
        "started_by_us": True,
        "detail": "pid 1",
    }
    changed = SandboxStatus(Path("/s"), comps, ("registry: started",))
    assert changed.noop is False and changed.component("registry").state == "absent"


def test_a_sandbox_object_is_cheap_and_touches_nothing(tmp_path: Path) -> None:
    box = sandbox.Sandbox(tmp_path / "state", SandboxSettings(registry_port=5555, prometheus_port=9555))
    assert box.registry_address() == "127.0.0.1:5555"
    assert box.prometheus_url() == "http://127.0.0.1:9555"
    assert box.file_sd_dir() == tmp_path / "state" / "sandbox" / "prometheus" / "file_sd"
    assert box.docker_host() == box.engine_paths.url
    assert box.credentials() is None
    assert not (tmp_path / "state").exists()
