"""The syft command line and environment builders, exactly (nothing runs)."""

from __future__ import annotations

import pytest

from coursectl.render.syft import is_loopback, syft_argv, syft_env


def test_docker_source_one_output() -> None:
    assert syft_argv("docker", "127.0.0.1:5000/course-platform/user:abc123", {"cyclonedx-json": "/s/u.cdx.json"}) == [
        "syft", "scan", "--from", "docker", "127.0.0.1:5000/course-platform/user:abc123",
        "--scope", "squashed", "--output", "cyclonedx-json=/s/u.cdx.json",
    ]  # fmt: skip


def test_registry_source_two_outputs_in_a_fixed_order_and_executable() -> None:
    argv = syft_argv(
        "registry", "reg.example:443/ns/course:1.2.3",
        {"spdx-json": "/o/c.spdx.json", "cyclonedx-json": "/o/c.cdx.json"},
        scope="all-layers", executable="/venv/bin/syft",
    )  # fmt: skip
    assert argv == [
        "/venv/bin/syft", "scan", "--from", "registry", "reg.example:443/ns/course:1.2.3", "--scope", "all-layers",
        "--output", "cyclonedx-json=/o/c.cdx.json", "--output", "spdx-json=/o/c.spdx.json",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("podman", "x", {"cyclonedx-json": "p"}), "unknown syft source 'podman'"),
        (("docker", "x", {}), "at least one output"),
        (("docker", "x", {"syft-table": "p"}), "unknown SBOM format syft-table"),
    ],
)
def test_bad_arguments_are_refused(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        syft_argv(*args)


def test_bad_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        syft_argv("docker", "x", {"cyclonedx-json": "p"}, scope="layers")


def test_environment_carries_credentials_never_the_command_line() -> None:
    env = syft_env(docker_host="unix:///s/docker.sock", registry="127.0.0.1:5000", username="u", password="p@ss",
                   insecure_http=True)  # fmt: skip
    assert env == {
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "DOCKER_HOST": "unix:///s/docker.sock",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
        "SYFT_REGISTRY_AUTH_AUTHORITY": "127.0.0.1:5000",
        "SYFT_REGISTRY_AUTH_USERNAME": "u",
        "SYFT_REGISTRY_AUTH_PASSWORD": "p@ss",
    }
    argv = syft_argv("registry", "127.0.0.1:5000/ns/user:v1", {"cyclonedx-json": "/o.json"})
    assert not any("p@ss" in a or a == "u" for a in argv)


def test_environment_without_credentials_or_engine() -> None:
    assert syft_env() == {"SYFT_CHECK_FOR_APP_UPDATE": "false"}
    assert syft_env(registry="reg.example") == {"SYFT_CHECK_FOR_APP_UPDATE": "false"}


@pytest.mark.parametrize(
    ("registry", "loopback"),
    [("127.0.0.1:5000", True), ("localhost:5000", True), ("127.0.0.2", True), ("[::1]:5000", True),
     ("reg.example:5000", False), ("10.0.0.1:5000", False), ("1270.example", False)],
)  # fmt: skip
def test_loopback(registry: str, loopback: bool) -> None:
    assert is_loopback(registry) is loopback
