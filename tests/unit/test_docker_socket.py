"""Which engines the standard-library listing reaches (unix sockets), and its errors when none answers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from coursectl.adapters import docker_socket
from coursectl.errors import PreconditionError


@pytest.mark.parametrize(
    ("docker_host", "environ", "expected"),
    [
        (None, {}, "/var/run/docker.sock"),
        (None, {"DOCKER_HOST": "unix:///run/user/1/docker.sock"}, "/run/user/1/docker.sock"),
        ("unix:///state/sandbox/docker.sock", {"DOCKER_HOST": "tcp://x:2375"}, "/state/sandbox/docker.sock"),
        (None, {"DOCKER_HOST": "tcp://127.0.0.1:2375"}, None),
        ("ssh://deploy@host", {}, None),
    ],
)
def test_socket_path(docker_host: str | None, environ: dict[str, str], expected: str | None) -> None:
    assert docker_socket.socket_path(docker_host, environ) == expected


def test_no_engine_is_a_precondition_naming_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.close()  # the socket file is there, nothing accepts on it
    with pytest.raises(PreconditionError, match=f"unix://{path}") as info:
        docker_socket.list_containers(str(path), ["coursectl.environment=local"], hint="coursectl sandbox up")
    assert info.value.hint == "coursectl sandbox up"
