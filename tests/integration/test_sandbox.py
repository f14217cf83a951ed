"""The sandbox for real: engine, authenticated registry (push, pull by digest), Prometheus file_sd, up/down."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from coursectl.errors import PreconditionError
from coursectl.sandbox import (
    Credentials,
    Sandbox,
    SandboxSettings,
    engine,
    pids,
    probe,
    remove_targets,
    write_targets,
)

pytestmark = pytest.mark.integration


def _push(client: Any, repository: str, tag: str, auth: dict[str, str]) -> tuple[str | None, str | None]:
    """Push and return (digest, error) from the engine's progress stream."""
    digest = error = None
    for event in client.api.push(repository, tag=tag, auth_config=auth, stream=True, decode=True):
        if "errorDetail" in event or "error" in event:
            error = str(event.get("error") or event["errorDetail"])
        aux = event.get("aux") or {}
        if aux.get("Digest"):
            digest = aux["Digest"]
    return digest, error


def test_the_docker_sdk_talks_to_the_engine(sandbox: Sandbox, docker_client: Any) -> None:
    assert docker_client.ping() is True
    info = docker_client.info()
    assert info["Driver"]
    status = sandbox.status().component("engine")
    assert status.healthy and status.state in ("running", "external")
    assert status.address == sandbox.docker_host()


def _pull_errors(client: Any, ref: str, auth: dict[str, str]) -> list[str]:
    """Pull ``ref``; the errors the engine reported (empty when the pull worked)."""
    import docker.errors

    try:
        events = list(client.api.pull(ref, auth_config=auth, stream=True, decode=True))
    except docker.errors.APIError as exc:
        return [str(exc)]
    return [str(e.get("error") or e.get("errorDetail")) for e in events if "error" in e or "errorDetail" in e]


def test_push_with_auth_and_pull_back_by_digest(
    sandbox: Sandbox, docker_client: Any, registry_credentials: Credentials, http_get: Any
) -> None:
    # an image that exists nowhere else: the base image plus one layer with a unique marker
    marker = uuid.uuid4().hex
    repository = f"{sandbox.registry_address()}/coursectl/sandbox-test"
    tag = marker[:12]
    maker = docker_client.containers.run(
        sandbox.settings.base_image, ["sh", "-c", f"echo {marker} > /marker"], network_mode="host", detach=True
    )
    try:
        assert maker.wait(timeout=60)["StatusCode"] == 0
        image = maker.commit(repository=repository, tag=tag)
    finally:
        maker.remove(force=True)

    import docker.errors

    digest, error = _push(docker_client, repository, tag, registry_credentials.auth_config())
    assert error is None and digest and digest.startswith("sha256:"), error
    docker_client.images.remove(image.id, force=True)
    ref = f"{repository}@{digest}"
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(ref)

    errors = _pull_errors(docker_client, ref, {})
    assert errors and any("auth" in e.lower() for e in errors), "a pull without credentials was served"

    assert _pull_errors(docker_client, ref, registry_credentials.auth_config()) == []
    pulled = docker_client.images.get(ref)
    assert pulled.id == image.id
    assert ref in pulled.attrs["RepoDigests"]
    out = docker_client.containers.run(ref, ["cat", "/marker"], network_mode="host", remove=True)
    assert out.decode().strip() == marker

    registry = f"http://{sandbox.registry_address()}"
    auth = (registry_credentials.username, registry_credentials.password)
    status, tags = http_get(f"{registry}/v2/coursectl/sandbox-test/tags/list", auth=auth)
    assert status == 200 and tag in tags["tags"]
    docker_client.images.remove(pulled.id, force=True)


def test_push_without_or_with_wrong_credentials_is_refused(
    sandbox: Sandbox, docker_client: Any, registry_credentials: Credentials, http_get: Any
) -> None:
    repository = f"{sandbox.registry_address()}/coursectl/refused"
    tag = uuid.uuid4().hex[:12]
    docker_client.images.get(sandbox.settings.base_image).tag(repository, tag)
    try:
        digest, error = _push(docker_client, repository, tag, {})
        assert digest is None and error and ("auth" in error.lower() or "unauthorized" in error.lower()), error
        wrong = {"username": registry_credentials.username, "password": "not-the-password"}
        digest, error = _push(docker_client, repository, tag, wrong)
        assert digest is None and error, "a push with a wrong password was accepted"
    finally:
        docker_client.images.remove(f"{repository}:{tag}")

    registry = f"http://{sandbox.registry_address()}"
    assert http_get(f"{registry}/v2/_catalog")[0] == 401
    auth = (registry_credentials.username, registry_credentials.password)
    status, catalog = http_get(f"{registry}/v2/_catalog", auth=auth)
    assert status == 200 and "coursectl/refused" not in catalog["repositories"]


def test_prometheus_is_ready_and_picks_up_a_file_sd_target(sandbox: Sandbox, http_get: Any) -> None:
    assert http_get(f"{sandbox.prometheus_url()}/-/ready")[0] == 200
    name = f"sandbox-test-{uuid.uuid4().hex[:8]}"
    own = sandbox.prometheus_url().removeprefix("http://")
    labels = {"service": name, "slot": "blue", "version": "0.0.1"}
    write_targets(sandbox.file_sd_dir(), name, [{"targets": [own], "labels": labels}])
    try:
        deadline = time.monotonic() + 60
        found: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status, body = http_get(f"{sandbox.prometheus_url()}/api/v1/targets?state=active")
            assert status == 200
            for target in body["data"]["activeTargets"]:
                if target["labels"].get("service") == name:
                    found = target
            if found.get("health") == "up":
                break
            time.sleep(0.5)
        assert found, "Prometheus never discovered the file_sd target"
        assert found["health"] == "up", found
        assert found["labels"]["slot"] == "blue" and found["labels"]["version"] == "0.0.1"
        assert found["labels"]["job"] == "coursectl"
    finally:
        remove_targets(sandbox.file_sd_dir(), name)


def test_up_again_is_a_reported_noop(sandbox: Sandbox) -> None:
    again = Sandbox(sandbox.state_dir, sandbox.settings)  # as a second `coursectl sandbox up` would
    began = time.monotonic()
    status = again.up()
    assert status.noop, status.changes
    assert status.healthy, status.to_dict()
    assert time.monotonic() - began < 10
    assert {c.name for c in status.components} == {
        "engine", "registry", "prometheus", "alertmanager", "blackbox", "node-exporter", "base-image"}


@pytest.mark.slow
def test_whole_cycle_in_a_fresh_state_dir(tmp_path: Path, sandbox_cache_dir: Path, sandbox: Sandbox) -> None:
    """up from nothing → a container runs on the engine → down leaves no process of ours behind."""
    settings = SandboxSettings(
        registry_port=probe.free_port(), prometheus_port=probe.free_port(), alertmanager_port=probe.free_port(),
        blackbox_port=probe.free_port(), node_exporter_port=probe.free_port(), receiver_port=probe.free_port(),
        cache_dir=sandbox_cache_dir,
    )
    box = Sandbox(tmp_path / "state", settings)
    assert all(c.state in ("absent", "external") for c in box.status().components if c.name != "base-image")
    try:
        status = box.up()
        assert not status.noop and status.healthy, status.to_dict()
        ours = status.component("engine").started_by_us
        assert (tmp_path / "state" / "secrets.env").stat().st_mode & 0o777 == 0o600

        import docker

        client = docker.DockerClient(base_url=box.docker_host(), version="auto")
        try:
            container = client.containers.run(
                settings.base_image, ["sleep", "300"], detach=True, network_mode="host", name="cycle-sleeper"
            )
            container.reload()
            container_pid = container.attrs["State"]["Pid"]
            assert pids.alive(container_pid)

            creds = box.credentials()
            assert creds is not None
            repository = f"{box.registry_address()}/coursectl/cycle"
            client.images.get(settings.base_image).tag(repository, "v1")
            digest, error = _push(client, repository, "v1", creds.auth_config())
            assert error is None and digest, error
            client.images.remove(f"{repository}:v1")
            pulled = client.images.pull(f"{repository}@{digest}", auth_config=creds.auth_config())
            assert f"{repository}@{digest}" in pulled.attrs["RepoDigests"]
        finally:
            client.close()
        # a daemon that died behind our back: status says so, the next `up` forgets it and starts a new one
        dead = box._manifest().get("prometheus")
        assert dead is not None and dead.pid
        os.kill(dead.pid, signal.SIGKILL)
        assert pids.wait_gone(dead.pid, dead.starttime, 10)
        assert box.status().component("prometheus").state == "stopped"
        again = box.up()
        assert any(c.startswith("prometheus: forgot pid") for c in again.changes), again.changes
        assert any(c.startswith("prometheus: started") for c in again.changes), again.changes
        assert again.healthy and len(again.changes) == 2, again.to_dict()

        manifest = box._manifest()
        recorded = [(e.pid, e.starttime) for e in manifest.entries.values() if e.started_by_us and e.pid]
        assert len(recorded) == (6 if ours else 5)  # + alertmanager, blackbox and node exporters
        assert all(pids.alive(pid, start) for pid, start in recorded)
    finally:
        stopped = box.down()
    assert any(s.startswith("registry: stopped") for s in stopped), stopped
    assert any(s.startswith("prometheus: stopped") for s in stopped), stopped
    for name in ("alertmanager", "blackbox", "node-exporter"):
        assert any(s.startswith(f"{name}: stopped") for s in stopped), stopped
    assert not any(pids.alive(pid, start) for pid, start in recorded)
    if ours:
        assert any(s.startswith("engine: stopped dockerd") for s in stopped), stopped
        assert not pids.alive(container_pid), "the container outlived the private engine"
    left = pids.matching([f"{box.dir}/", *box.engine_paths.needles()])
    assert not left, [(p.pid, p.command) for p in left]
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert not engine.mounts_under(mountinfo, box.engine_paths.exec_root)
    assert not engine.mounts_under(mountinfo, box.engine_paths.data_root)
    assert box.down() == []
    after = box.status()
    assert all(c.state in ("absent", "external", "stopped") for c in after.components if c.name != "base-image")
    if ours:
        assert not os.path.exists(box.engine_paths.socket)


def test_a_busy_port_fails_clearly_and_down_still_cleans_up(
    tmp_path: Path, sandbox_cache_dir: Path, sandbox: Sandbox
) -> None:
    busy = sandbox.settings.prometheus_port  # the session sandbox's Prometheus holds it
    settings = SandboxSettings(registry_port=busy, prometheus_port=probe.free_port(), cache_dir=sandbox_cache_dir)
    box = Sandbox(tmp_path / "state", settings)
    try:
        with pytest.raises(PreconditionError, match=f"registry: port 127.0.0.1:{busy} is already in use"):
            box.up()
        assert box.status().component("registry").state == "external"  # something answers there, not ours
    finally:
        box.down()
    assert not pids.matching([f"{box.dir}/", *box.engine_paths.needles()])
    assert sandbox.status().healthy  # the other sandbox was not touched
