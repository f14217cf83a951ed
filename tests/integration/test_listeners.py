"""Who listens on a port: the kernel's socket diagnostics and /proc/net/tcp must give the same answer."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.adapters import listeners as lst


@pytest.fixture()
def sockets() -> Iterator[list[tuple[str, int]]]:
    """A listener on 127.0.0.1, one on [::1] and one on the IPv6 wildcard (which takes IPv4 too)."""
    opened: list[socket.socket] = []
    where: list[tuple[str, int]] = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind((host, 0))
        s.listen()
        opened.append(s)
        where.append((host, s.getsockname()[1]))
    yield where
    for s in opened:
        s.close()


def _from_proc() -> set[lst.Listener]:
    found: list[lst.Listener] = []
    for name in ("tcp", "tcp6"):
        found += lst.parse_proc_net_tcp(Path(f"/proc/net/{name}").read_text())
    return set(found)


def test_socket_diagnostics_list_what_proc_net_tcp_lists(sockets: list[tuple[str, int]]) -> None:
    diag = lst.diag_listening()
    assert diag is not None, "sock_diag is available on this Linux host"
    assert set(diag) == _from_proc()
    ports = {(s.address, s.port) for s in diag}
    assert set(sockets) <= ports


@pytest.fixture(params=["sock_diag", "proc"])
def source(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test below runs once with the kernel's diagnostics and once as on a host without them."""
    if request.param == "proc":
        monkeypatch.setattr(lst, "diag_listening", lambda: None)
    return str(request.param)


def test_listeners_name_this_process_for_each_kind_of_address(sockets: list[tuple[str, int]], source: str) -> None:
    for host, port in sockets:
        found = lst.listeners("127.0.0.1" if host != "::1" else "::1", port)
        assert [(f.port, f.pid) for f in found] == [(port, os.getpid())], (host, port)
    (_, v4), (_, _), (_, wildcard) = sockets
    assert lst.listeners("127.0.0.2", v4) == []  # another address on that port: not the same listener
    assert [f.address for f in lst.listeners("127.0.0.2", wildcard)] == ["::"]  # the wildcard takes it


def test_a_closed_listener_is_gone(source: str) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    assert lst.listeners("127.0.0.1", port)
    s.close()
    assert lst.listeners("127.0.0.1", port) == []


def test_damaged_diagnostics_replies_are_refused() -> None:
    header = lst._HEADER.pack(200, lst._SOCK_DIAG_BY_FAMILY, 0, 1, 0)
    with pytest.raises(ValueError, match="truncated"):
        lst.parse_diag(header + b"\0" * 20)
    error = lst._HEADER.pack(lst._HEADER.size + 4, lst._NLMSG_ERROR, 0, 1, 0) + b"\xff\xff\xff\xff"
    with pytest.raises(ValueError, match="refused"):
        lst.parse_diag(error)
    done = lst._HEADER.pack(lst._HEADER.size + 4, lst._NLMSG_DONE, 0, 1, 0) + b"\0\0\0\0"
    assert lst.parse_diag(done) == ([], True)
