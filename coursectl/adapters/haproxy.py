"""The HAProxy edge: run it, and change its traffic through the runtime API (admin unix socket), never a reload.

Every change is followed by a re-render of haproxy.cfg (and edge.json) from the live servers and weights,
so an edge that is restarted comes back exactly as it was. Implements the TrafficRouter port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from coursectl.adapters import process
from coursectl.domain import SlotState
from coursectl.errors import ExternalError, ExternalTimeout, PreconditionError
from coursectl.render import haproxy as hp
from coursectl.rollout.weights import to_percents, to_server_weights

log = logging.getLogger(__name__)

_OK_REPLIES = ("", "New server registered.", "Server deleted.")


class HAProxyEdge:
    """One HAProxy process in ``workdir`` (haproxy.cfg, admin.sock, haproxy.pid, edge.json, haproxy.log)."""

    def __init__(
        self,
        workdir: Path,
        *,
        services: Mapping[str, str],
        bind: str = "127.0.0.1:8080",
        stats_bind: str = "127.0.0.1:8404",
        rate_limit_requests: int = 200,
        rate_limit_period: float = 10.0,
        drain_timeout: float = 10.0,
        socket_timeout: float = 5.0,
        routes: Mapping[str, str] | None = None,
        check_timeout: float = 15.0,
    ):
        self.workdir = workdir
        self.services = dict(services)  # service -> health path
        self.routes = dict(routes or {})  # service -> path prefix, when not /api/<service>/
        self.bind = bind
        self.stats_bind = stats_bind
        self.rate_limit_requests = rate_limit_requests
        self.rate_limit_period = rate_limit_period
        self.drain_timeout = drain_timeout
        self.socket_timeout = socket_timeout
        self.check_timeout = check_timeout  # how long a new server may take to pass its first health check

    # files -------------------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.workdir / "haproxy.cfg"

    @property
    def socket_path(self) -> Path:
        return self.workdir / "admin.sock"

    @property
    def pid_path(self) -> Path:
        return self.workdir / "haproxy.pid"

    @property
    def state_path(self) -> Path:
        return self.workdir / "edge.json"

    @property
    def url(self) -> str:
        return f"http://{self.bind}"

    def _saved(self) -> dict[str, list[dict[str, object]]]:
        try:
            return dict(json.loads(self.state_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def _backends(self, servers: Mapping[str, list[hp.EdgeServer]]) -> list[hp.EdgeBackend]:
        names = sorted(set(self.services) | set(servers))  # service names; the template names backends be_<svc>
        return [
            hp.EdgeBackend(n, self.services.get(n, "/health/ready"), tuple(servers.get(n, [])), self.routes.get(n))
            for n in names
        ]

    def render(self, servers: Mapping[str, list[hp.EdgeServer]] | None = None) -> str:
        if servers is None:
            servers = {b: [hp.EdgeServer(**s) for s in lst] for b, lst in self._saved().items()}  # type: ignore[arg-type]
        return hp.render_config(
            backends=self._backends(servers),
            bind=self.bind,
            stats_bind=self.stats_bind,
            socket=str(self.socket_path),
            pidfile=str(self.pid_path),
            rate_limit_requests=self.rate_limit_requests,
            rate_limit_period=self.rate_limit_period,
        )

    def write_config(self, servers: Mapping[str, list[hp.EdgeServer]] | None = None) -> Path:
        """Render, check with ``haproxy -c`` and atomically replace haproxy.cfg (and edge.json)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        text = self.render(servers)
        candidate = self.workdir / f"haproxy.cfg.new-{os.getpid()}-{threading.get_ident()}"
        candidate.write_text(text, encoding="utf-8")
        result = process.run(
            hp.check_argv(str(candidate)),
            timeout=30,
            check=False,
            hint="install haproxy (Debian: apt-get install haproxy)",
        )
        if result.returncode != 0:
            raise ExternalError(
                f"the rendered edge configuration is invalid: {result.tail(10)}", details={"file": str(candidate)}
            )
        os.replace(candidate, self.config_path)
        if servers is not None:
            data = {b: [s.__dict__ for s in lst] for b, lst in servers.items()}
            tmp = self.state_path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.state_path)
        return self.config_path

    # process -----------------------------------------------------------------------------------------

    def pid(self) -> int | None:
        from coursectl.processes import pid_alive

        try:
            pid = int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid) else None  # a master that has exited but is not reaped yet is gone

    def running(self) -> bool:
        try:
            self.command("show info")
            return True
        except ExternalError:
            return False

    def _addresses(self) -> list[tuple[str, str, int]]:
        out = []
        for what, address in (("bind", self.bind), ("stats_bind", self.stats_bind)):
            host, _, port = address.rpartition(":")
            out.append((what, host.strip("[]") or "0.0.0.0", int(port)))
        return out

    def _own_pids(self) -> set[int]:
        """The master's pid (pid file) and its worker's: as the running worker says (``show info``), which is
        quicker than looking through every process; else the master's process tree."""
        from coursectl.adapters.listeners import process_tree

        pid = self.pid()
        if pid is None:
            return set()
        try:
            info = self.command("show info")
        except ExternalError:
            info = ""
        worker = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("Pid:")), "")
        return {pid, int(worker)} if worker.isdigit() else process_tree(pid)

    def check_ports(self) -> None:
        """PreconditionError (exit 4) naming the address and the process when something already listens where
        the edge must: HAProxy binds without SO_REUSEPORT (``noreuseport``), and never starts beside another
        listener."""
        from coursectl.adapters.listeners import listeners, port_in_use

        own = self._own_pids()
        for what, host, port in self._addresses():
            holders = listeners(host, port)
            if not holders and not port_in_use(host, port):
                continue
            names = ", ".join(h.describe() for h in holders) or "another process"
            ours = bool(holders) and all(h.pid in own for h in holders)
            raise PreconditionError(
                f"the edge cannot start: {host}:{port} (edge.{what}) is already in use by {names}"
                + (" — this edge's own HAProxy, whose admin socket does not answer" if ours else ""),
                hint="stop that process, or give this environment another edge.bind / edge.stats_bind",
                details={
                    "address": f"{host}:{port}",
                    "pids": [h.pid for h in holders if h.pid is not None],
                    "own": ours,
                },
            )

    def port_problems(self) -> list[str]:
        """What is wrong with the edge's addresses (for ``status``): another process listening on them, beside
        the running edge (sharing its connections) or instead of it."""
        from coursectl.adapters.listeners import listeners

        own = self._own_pids()
        problems = []
        for what, host, port in self._addresses():
            found = listeners(host, port, likely=sorted(own))
            others = [h for h in found if h.pid is None or h.pid not in own]
            if not others:
                continue
            names = ", ".join(h.describe() for h in others)
            if own and len(others) < len(found):
                problems.append(
                    f"the edge's port {host}:{port} (edge.{what}) is shared with {names}: "
                    "connections are split between them"
                )
            else:
                problems.append(f"the edge's port {host}:{port} (edge.{what}) is used by {names}")
        return problems

    def ensure_running(self, timeout: float = 10.0) -> None:
        """Start the edge from its last rendered state when it is not answering (idempotent); PreconditionError
        naming the process when its address is taken."""
        if self.running():
            return
        deadline = time.monotonic() + timeout
        try:
            self.check_ports()
        except PreconditionError as exc:
            if not exc.details.get("own") or not self._wait_running(deadline):
                raise
            return  # another coursectl was starting this very edge
        self.write_config()
        self.socket_path.unlink(missing_ok=True)
        try:
            process.run(hp.start_argv(str(self.config_path)), timeout=timeout, hint="install haproxy")
        except ExternalError:
            if self._wait_running(time.monotonic() + 1.0):
                return  # started by another coursectl at the same moment; ours could not bind beside it
            raise
        while time.monotonic() < deadline:
            if self.running():
                return
            time.sleep(0.05)
        raise ExternalTimeout(f"the edge did not start within {timeout:g} s; see {self.workdir / 'haproxy.log'}")

    def _wait_running(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.running():
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGUSR1)  # soft stop: finish running requests
        except ProcessLookupError:  # gone already (its pid file outlived it)
            return
        from coursectl.processes import pid_alive

        deadline = time.monotonic() + timeout
        resend = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            if time.monotonic() >= resend:  # a master still starting up drops the signal: say it again
                resend = time.monotonic() + 0.5
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return

    # runtime API -------------------------------------------------------------------------------------

    def command(self, line: str) -> str:
        """Send one runtime-API command; its reply as text. ExternalError when the socket does not answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.socket_timeout)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except (OSError, TimeoutError) as exc:
            raise ExternalError(
                f"the edge's runtime API at {self.socket_path} does not answer: {exc}",
                hint="start the edge (coursectl sandbox up) or check its log",
            ) from exc
        return b"".join(chunks).decode(errors="replace")

    def stats_url(self) -> str:
        return f"http://{self.stats_bind}/metrics"

    def _do(self, commands: list[str]) -> None:
        for line in commands:
            reply = self.command(line).strip()
            if reply not in _OK_REPLIES:
                raise ExternalError(f"the edge refused {line!r}: {reply}")

    def live(self) -> dict[str, dict[str, dict[str, object]]]:
        return hp.parse_servers_state(self.command("show servers state"))

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The saved state written by one thread or process at a time, from what the edge runs at that moment
        (several services' rollouts of one release change the edge in parallel)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "edge.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _persist(self) -> None:
        with self._exclusive():
            live = self.live()
            self.write_config({service: hp.servers_from_state(live, service) for service in live})

    # TrafficRouter -----------------------------------------------------------------------------------

    def set_weights(
        self, service: str, weights: Mapping[str, int], addresses: Mapping[str, tuple[str, int]]
    ) -> None:
        if service not in self.services:
            raise PreconditionError(
                f"the edge has no backend for {service}", hint="re-render the edge (sandbox up)"
            )
        self.ensure_running()
        live = self.live().get(service, {})
        added = []
        for slot in weights:
            if slot not in live:
                host, port = addresses[slot]
                self._do(hp.add_server(service, hp.EdgeServer(slot, host, port, 0), self.services[service]))
                added.append(slot)
        wanted = to_server_weights(weights)
        self._wait_checked(service, [slot for slot in added if wanted.get(slot, 0) > 0])
        # raise weights before lowering others, so there is never a moment with nowhere to go
        order = sorted(wanted, key=lambda s: wanted[s] == 0)
        for slot in order:
            self._do(hp.set_weight(service, slot, wanted[slot]))
        self._persist()

    def _wait_checked(self, service: str, slots: list[str]) -> None:
        """Until each new server of ``slots`` has passed a health check (it starts down); ExternalError, with no
        weight changed, when one does not within ``check_timeout``: a slot gets traffic only once it is ready."""
        deadline = time.monotonic() + self.check_timeout
        waiting = list(slots)
        while waiting:
            state = self.live().get(service, {})
            waiting = [s for s in waiting if state.get(s, {}).get("op_state") != hp.OP_RUNNING]
            if not waiting:
                return
            if time.monotonic() >= deadline:
                path = self.services[service]
                raise ExternalError(
                    f"{service}: {', '.join(waiting)} did not pass the edge's health check (GET {path}) within "
                    f"{self.check_timeout:g} s; traffic left as it was",
                    hint="see the slot's log; it must answer its readiness path with 200",
                )
            time.sleep(0.1)

    def weights(self, service: str) -> dict[str, int]:
        return _weights_of(self.live().get(service, {}))

    def all_weights(self) -> dict[str, dict[str, int]]:
        """Every service's weights from one ``show servers state`` (status asks for all at once)."""
        return {service: _weights_of(servers) for service, servers in self.live().items()}

    def planned_weights(self, service: str) -> dict[str, int]:
        """The weights in effect without changing anything: the live ones, or, when the edge is not running, those
        it would come back with (its saved state). For dry runs."""
        if self.running():
            return self.weights(service)
        saved = self._saved().get(service, [])
        active = {
            str(s["slot"]): int(s["weight"]) if s.get("state") != "maint" else 0  # type: ignore[call-overload]
            for s in saved
        }
        return to_percents(active) if active else {}

    def explain(self, weight: int) -> str | None:
        return None  # server weights are exact

    def snapshot(self, services: Sequence[str]) -> dict[str, tuple[list[SlotState], dict[str, int]]] | None:
        return None  # weights come from the admin socket, slots from the target: read one by one

    def verify(self, service: str, weights: Mapping[str, int]) -> bool | None:
        from coursectl.rollout.weights import same_split

        return same_split(self.weights(service), weights)

    def remove(self, service: str, slot: str) -> None:
        if not self.running():
            self.ensure_running()
        if slot not in self.live().get(service, {}):
            return
        self._do(hp.remove_server(service, slot))
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline:
            sessions = hp.parse_stat_sessions(self.command("show stat"), service)
            if sessions.get(slot, 0) == 0:
                break
            time.sleep(0.1)
        for attempt in range(50):
            try:
                self._do(hp.delete_server(service, slot))
                break
            except ExternalError:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        self._persist()


def _weights_of(servers: Mapping[str, Mapping[str, object]]) -> dict[str, int]:
    active = {s: int(i["weight"]) if not (int(i["admin_state"]) & 0x03) else 0 for s, i in servers.items()}  # type: ignore[call-overload]
    return to_percents(active) if active else {}
