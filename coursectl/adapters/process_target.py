"""A Target whose slots are local processes (the tiny stand-in service by default): for edge drills,
integration tests and benchmarks on machines without a container engine. State lives in ``workdir/slots.json``
so that another coursectl process (resume after kill -9) sees the same slots.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from coursectl.adapters import process
from coursectl.adapters.http_probe import answers_ok, http_get
from coursectl.domain import SlotSpec, SlotState, slot_port
from coursectl.errors import ExternalError, ExternalTimeout
from coursectl.processes import pid_alive as _alive

OWNER_VARIABLE = "COURSECTL_SLOT_OWNER"  # set in every slot process: <workdir>/<service>-<slot>


def _owner_of(pid: int) -> str | None:
    """The slot a process was started for (its COURSECTL_SLOT_OWNER), or None for any other process."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    prefix = OWNER_VARIABLE.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


class ProcessTarget:
    """Slots as local processes on 127.0.0.1; ``command`` builds the argv (default: the tiny service).

    ``{service}``, ``{slot}`` and ``{python}`` (this interpreter) in ``command`` are filled in, so
    ``["{python}", "-m", "{service}_service"]`` runs the platform's own services from the checkout; ``commands``
    gives particular services another argv. With
    ``data_dir``, both slots of a service share ``<data_dir>/<service>.db`` (SQLite) unless the slot's
    environment names a DATABASE_URL, as on the docker target.
    """

    def __init__(
        self,
        workdir: Path,
        ports: Mapping[str, int],
        command: Sequence[str] | None = None,
        *,
        environment: str = "drill",
        file_sd_dir: Path | None = None,
        data_dir: Path | None = None,
        commands: Mapping[str, Sequence[str]] | None = None,
    ):
        self.data_dir = data_dir
        self.commands = {name: list(argv) for name, argv in (commands or {}).items()}
        self.workdir = workdir
        self.environment = environment
        self.file_sd_dir = file_sd_dir
        self.ports = dict(ports)
        self.command = list(command or [sys.executable, "-m", "coursectl.tinyservice"])

    @property
    def _file(self) -> Path:
        return self.workdir / "slots.json"

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            return dict(json.loads(self._file.read_text()))
        except (OSError, ValueError):
            return {}

    def _store(self, data: Mapping[str, object]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)  # only once something is written: a dry run writes nothing
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self._file)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """slots.json changed by one thread or process at a time (a release rolls services out in parallel)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "slots.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def address(self, service: str, slot: str) -> tuple[str, int]:
        return "127.0.0.1", slot_port(self.ports[service], slot)

    def start(self, spec: SlotSpec) -> SlotState:
        with self._exclusive():
            return self._start(spec)

    def _start(self, spec: SlotSpec) -> SlotState:
        data = self._load()
        key = f"{spec.service}-{spec.slot}"
        current = data.get(key)
        same = current and current["version"] == spec.version and current.get("fingerprint") == spec.fingerprint
        if current and same and _alive(int(current["pid"])):  # type: ignore[call-overload]
            return self._state(key, current)
        if current:
            self._kill(int(current["pid"]))  # type: ignore[call-overload]
        owner = str(self.workdir.resolve() / key)
        self._reclaim_orphans(spec, owner)
        self._check_port(spec)
        env = {
            **spec.env,
            "SERVICE": spec.service,
            "SERVICE_NAME": spec.service,
            "VERSION": spec.version,
            "HOST": "127.0.0.1",
            "PORT": str(spec.port),
            "APP_VERSION": spec.version,
            "SERVICE_SLOT": spec.slot,
            OWNER_VARIABLE: owner,
        }
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            env.setdefault("DATABASE_URL", f"sqlite:///{self.data_dir / spec.service}.db")
        command = self.commands.get(spec.service, self.command)
        argv = [part.format(service=spec.service, slot=spec.slot, python=sys.executable) for part in command]
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = process.run(
            [sys.executable, "-m", "coursectl.adapters.detach", str(self.workdir / f"{key}.log"), "--", *argv],
            timeout=30,
            env=env,
        )
        pid = int(started.stdout.strip())
        data[key] = {
            "pid": pid,
            "version": spec.version,
            "digest": spec.digest,
            "port": spec.port,
            "rollout_id": spec.rollout_id,
            "health": spec.health,
            "fingerprint": spec.fingerprint,
        }
        self._store(data)
        self.write_targets(spec.service)
        return self._state(key, data[key])

    def _reclaim_orphans(self, spec: SlotSpec, owner: str) -> None:
        """A slot process this target started but never recorded (the deploy was killed between starting it
        and writing slots.json) still holds the slot's port: it is ours — its environment names this slot — so
        it is stopped. Any other program on the port is left alone and refused by ``_check_port``."""
        from coursectl.adapters.listeners import listeners

        for holder in listeners("127.0.0.1", spec.port):
            if holder.pid is not None and _owner_of(holder.pid) == owner:
                self._kill(holder.pid)

    @staticmethod
    def _check_port(spec: SlotSpec) -> None:
        """Another program on the slot's port would answer its readiness check: refused (exit 4)."""
        from coursectl.adapters.listeners import check_free

        check_free(
            "127.0.0.1",
            spec.port,
            what=f"{spec.service}-{spec.slot}",
            hint="stop that program, or give the service another port",
        )

    def _state(self, key: str, info: Mapping[str, object]) -> SlotState:
        service, slot = key.rsplit("-", 1)
        alive = _alive(int(str(info["pid"])))

        def text(name: str) -> str | None:
            value = info.get(name)
            return None if value is None else str(value)

        return SlotState(
            service,
            slot,
            str(info["version"]),
            int(str(info["port"])),
            running=alive,
            ready=alive,
            digest=text("digest"),
            rollout_id=text("rollout_id"),
            fingerprint=text("fingerprint"),
        )

    def wait_ready(self, service: str, slot: str, *, timeout: float) -> SlotState:
        key = f"{service}-{slot}"
        info = self._load().get(key)
        if info is None:
            raise ExternalError(f"{key} does not exist")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(int(str(info["pid"]))):
                raise ExternalError(f"{key} exited: {self._log_tail(key)}")
            status, _ = http_get(f"http://127.0.0.1:{info['port']}{info.get('health', '/health/ready')}", 1.0)
            if status == 200:
                return self._state(key, info)
            time.sleep(0.1)
        raise ExternalTimeout(f"{key} was not ready within {timeout:g} s")

    def _log_tail(self, key: str, limit: int = 800) -> str:
        try:
            return (self.workdir / f"{key}.log").read_text(errors="replace")[-limit:].strip() or "(no output)"
        except OSError:
            return "(no log)"

    def smoke(self, service: str, slot: str, paths: Sequence[str]) -> list[str]:
        _, port = self.address(service, slot)
        problems = []
        for path in paths:
            status, _ = http_get(f"http://127.0.0.1:{port}{path}")
            if not 200 <= status < 300:
                problems.append(f"GET {path}: {status or 'no answer'}")
        return problems

    def slots(self, service: str) -> list[SlotState]:
        return [self._state(k, v) for k, v in sorted(self._load().items()) if k.rsplit("-", 1)[0] == service]

    def retire(self, service: str, slot: str) -> None:
        with self._exclusive():
            data = self._load()
            info = data.pop(f"{service}-{slot}", None)
            self._store(data)
            self.write_targets(service)
        if info:
            self._kill(int(info["pid"]))  # type: ignore[call-overload]

    in_place: tuple[str, ...] = ()  # every strategy runs in a second slot
    records_fingerprints = True  # slots.json keeps the spec's fingerprint

    def healthy(self, state: SlotState, path: str) -> bool:
        return state.running and answers_ok(state.host, state.port, path)

    def service_urls(self) -> dict[str, str]:
        return {}  # slots reach each other through the edge

    def write_targets(self, service: str) -> None:
        """Prometheus file_sd targets of the service's slots (as the docker target writes them)."""
        if self.file_sd_dir is None:
            return
        from coursectl.render.prometheus import render_file_sd

        self.file_sd_dir.mkdir(parents=True, exist_ok=True)
        path = self.file_sd_dir / f"coursectl-{self.environment}-{service}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(render_file_sd(self.environment, self.slots(service)), encoding="utf-8")
        os.replace(tmp, path)

    @staticmethod
    def _kill(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        for _ in range(100):
            if not _alive(pid):
                return
            time.sleep(0.02)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            return
        for _ in range(50):  # gone, and its port free, before a new process takes the slot
            if not _alive(pid):
                return
            time.sleep(0.02)

    def stop_all(self) -> None:
        for key in list(self._load()):
            service, slot = key.rsplit("-", 1)
            self.retire(service, slot)
