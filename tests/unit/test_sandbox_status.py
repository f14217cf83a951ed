"""The sandbox's public surface and the JSON shape of its status."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from coursectl import sandbox
from coursectl.errors import ConfigError, PreconditionError
from coursectl.sandbox import ComponentStatus, SandboxSettings, SandboxStatus, lock


def test_public_surface_is_sorted_and_complete() -> None:
    assert sandbox.__all__ == sorted(sandbox.__all__)
    public = {
        name
        for name, value in vars(sandbox).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public - {"annotations", "TYPE_CHECKING", "Any"} <= set(sandbox.__all__)
    for name in sandbox.__all__:  # loaded on first use (the package imports none of its machinery by itself)
        assert getattr(sandbox, name).__name__ == name
    with pytest.raises(AttributeError):
        _ = sandbox.NoSuchThing  # type: ignore[attr-defined]


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"registry_port": 0}, "registry_port: expected a TCP port"),
        ({"prometheus_port": 70000}, "prometheus_port: expected a TCP port"),
        ({"registry_port": "5000"}, "registry_port: expected a TCP port"),
        ({"registry_port": 9090}, "both 9090"),
        ({"base_image": "coursectl/base"}, "base_image: expected name:tag"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SandboxSettings(**kwargs)  # type: ignore[arg-type]


def test_the_lock_is_exclusive_and_times_out(tmp_path: Path) -> None:
    with lock.exclusive(tmp_path / ".lock", timeout=1):
        second = lock.exclusive(tmp_path / ".lock", timeout=0)
        with pytest.raises(PreconditionError, match="lock .* held"):
            second.__enter__()
    with lock.exclusive(tmp_path / ".lock", timeout=0):
        pass
