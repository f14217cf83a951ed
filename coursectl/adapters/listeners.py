"""Who listens on a TCP port of this host: the listening sockets and the processes that hold them
(/proc/<pid>/fd), so that an edge never shares a port silently and an error can name the process.

The sockets come from the kernel's socket diagnostics (netlink ``sock_diag``, asked for listening TCP sockets
only: about 0.1 ms), else from /proc/net/tcp and tcp6, which the kernel writes out whole for every socket
of the host (about 10 ms here, more on a busy host).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket: its address, and the process holding it when that can be found."""

    address: str
    port: int
    inode: int
    pid: int | None = None
    process: str | None = None

    def describe(self) -> str:
        """``haproxy (pid 123)``, or what is known."""
        if self.pid is None:
            return f"a process that could not be identified ({self.address}:{self.port})"
        return f"{self.process or 'process'} (pid {self.pid})"


def _address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # four host-order 32-bit words
    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped or address)


def parse_proc_net_tcp(text: str) -> list[Listener]:
    """The listening sockets in the text of /proc/net/tcp or /proc/net/tcp6 (pure)."""
    out: list[Listener] = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 10 or cols[3] != _LISTEN:
            continue
        hex_addr, _, hex_port = cols[1].partition(":")
        try:
            out.append(Listener(_address(hex_addr), int(hex_port, 16), int(cols[9])))
        except ValueError:
            continue
    return out


_PROC = Path("/proc")
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x301
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_REQUEST = struct.Struct("=BBBBI48x")  # inet_diag_req_v2: family, protocol, extensions, pad, states, socket id


def parse_diag(data: bytes) -> tuple[list[Listener], bool]:
    """The sockets in one batch of ``sock_diag`` replies (``inet_diag_msg``), and whether the dump is complete
    (pure). ValueError on an error reply or a truncated message."""
    out: list[Listener] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            raise ValueError("truncated sock_diag message")
        if kind == _NLMSG_DONE:
            return out, True
        if kind == _NLMSG_ERROR:
            raise ValueError("sock_diag refused the request")
        body = offset + _HEADER.size
        if length - _HEADER.size < 72:  # inet_diag_msg: 4 bytes, the 48-byte socket id, 5 x u32
            raise ValueError("short sock_diag message")
        family = data[body]
        port = int.from_bytes(data[body + 4 : body + 6], "big")
        raw = data[body + 8 : body + 8 + (4 if family == socket.AF_INET else 16)]
        (inode,) = struct.unpack_from("=I", data, body + 68)
        address = ipaddress.ip_address(raw)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        out.append(Listener(str(address), port, inode))
        offset += (length + 3) & ~3
    return out, False


def diag_listening() -> list[Listener] | None:
    """Every listening TCP socket of this host (IPv4 and IPv6) from the kernel's socket diagnostics; None when
    they cannot be asked (not Linux, no ``sock_diag``), and the caller reads /proc/net instead."""
    found: list[Listener] = []
    try:
        for family in (socket.AF_INET, socket.AF_INET6):
            with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as link:
                link.settimeout(2.0)
                request = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN)
                link.sendall(_HEADER.pack(_HEADER.size + len(request), _SOCK_DIAG_BY_FAMILY,
                                          _NLM_F_REQUEST_DUMP, 1, 0) + request)  # fmt: skip
                done = False
                while not done:
                    batch, done = parse_diag(link.recv(1 << 16))
                    found += batch
    except (OSError, ValueError, AttributeError):  # AttributeError: no AF_NETLINK on this platform
        return None
    return found


def _owners(inodes: set[int], proc: Path, first: Iterable[int] = ()) -> dict[int, tuple[int, str]]:
    """inode → (pid, process name) for the sockets in ``inodes`` (processes we may not inspect are skipped).
    The processes in ``first`` are looked at first: when they hold every socket, no other is (status is quick)."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict[int, tuple[int, str]] = {}
    try:
        pids = [str(pid) for pid in first]
        if not _look(pids, wanted, found, proc):
            pids = [entry for entry in os.listdir(proc) if entry.isdigit()]
            _look(pids, wanted, found, proc)
    except OSError:
        pass
    return found


def _look(pids: list[str], wanted: dict[str, int], found: dict[int, tuple[int, str]], proc: Path) -> bool:
    """Find the owners of ``wanted`` among ``pids`` into ``found``; True once every one is found."""
    for pid in pids:
        fd_dir = proc / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            inode = wanted.get(target)
            if inode is not None and inode not in found:
                try:
                    name = (proc / pid / "comm").read_text().strip()
                except OSError:
                    name = "?"
                found[inode] = (int(pid), name)
        if len(found) == len(wanted):
            return True
    return len(found) == len(wanted)


def _covers(listening: str, wanted: str) -> bool:
    """Whether a socket listening on ``listening`` takes connections meant for ``wanted`` (or the reverse)."""
    wildcard = ("0.0.0.0", "::")
    return listening == wanted or listening in wildcard or wanted in wildcard


def listeners(host: str, port: int, *, proc: Path = _PROC, likely: Iterable[int] = ()) -> list[Listener]:
    """The sockets listening on ``port`` that would take connections for ``host`` (wildcards included), with
    the processes holding them; [] when nothing listens (or /proc cannot be read). ``likely``: pids to look at
    first (the edge's own), which spares reading every process's descriptors when they hold the sockets."""
    try:
        wanted = str(ipaddress.ip_address(host))
    except ValueError:
        try:
            wanted = socket.gethostbyname(host)
        except OSError:
            wanted = "0.0.0.0"
    listening = diag_listening() if proc == _PROC else None
    if listening is None:
        listening = []
        for name in ("tcp", "tcp6"):
            try:
                listening += parse_proc_net_tcp((proc / "net" / name).read_text())
            except OSError:
                continue
    found = [s for s in listening if s.port == port and _covers(s.address, wanted)]
    if not found:
        return []
    owners = _owners({s.inode for s in found}, proc, likely)
    return [Listener(s.address, s.port, s.inode, *owners[s.inode]) if s.inode in owners else s for s in found]


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails because something listens there (the check /proc cannot miss)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT do not count
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def process_tree(root: int, *, proc: Path = Path("/proc")) -> set[int]:
    """``root`` and its children (one level is what HAProxy's master-worker mode has; two are looked at)."""
    members = {root}
    quick = _children(root, proc)
    if quick is not None:  # the kernel's own list: no need to read every process's stat
        for child in list(quick):
            members.add(child)
            members |= _children(child, proc) or set()
        return members
    try:
        pids = [int(entry) for entry in os.listdir(proc) if entry.isdigit()]
    except OSError:
        return members
    parents: dict[int, int] = {}
    for pid in pids:
        try:
            stat = (proc / str(pid) / "stat").read_text()
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    for _ in range(2):
        members |= {pid for pid, parent in parents.items() if parent in members}
    return members


def check_free(host: str, port: int, *, what: str, hint: str) -> None:
    """PreconditionError (exit 4) naming the address and the holder when something already listens on
    ``host:port``, which ``what`` (e.g. ``course-green``) needs for itself."""
    from coursectl.errors import PreconditionError

    holders = listeners(host, port)
    if not holders and not port_in_use(host, port):
        return
    names = ", ".join(h.describe() for h in holders) or "another program"
    raise PreconditionError(
        f"{what} cannot start: {host}:{port} is already in use by {names}",
        hint=hint,
        details={"address": f"{host}:{port}", "pids": [h.pid for h in holders if h.pid is not None]},
    )


def _children(pid: int, proc: Path) -> set[int] | None:
    """The children of ``pid`` from /proc/<pid>/task/*/children; None when the kernel does not provide them."""
    try:
        files = list((proc / str(pid) / "task").glob("*/children"))
        if not files:
            return None
        return {int(word) for path in files for word in path.read_text().split()}
    except (OSError, ValueError):
        return None
