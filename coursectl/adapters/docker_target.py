"""The docker Target: one container per service slot (<svc>-blue|green, <svc>-stable|canary) on the host
network, listening on 127.0.0.1 at a port per slot; Prometheus file_sd targets written for every slot.

Slot ports: the service's port + 100 for blue/stable, + 200 for green/canary (course 8002 → 8102 / 8202).
The docker SDK is imported lazily; its errors are translated here, every call site through ``_sdk``: an engine
that does not answer → PreconditionError (exit 4, hint ``coursectl sandbox up``), anything else the SDK or its
HTTP session raises → ExternalError (exit 5) naming the operation. No SDK exception leaves this module.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from coursectl.adapters.http_probe import answers_ok, http_get
from coursectl.domain import SlotSpec, SlotState, slot_port
from coursectl.errors import ExternalError, ExternalTimeout, PreconditionError

log = logging.getLogger(__name__)

LABEL = "coursectl"
DEFAULT_HEALTH = "/health/ready"
NO_ENGINE_HINT = "start it (coursectl sandbox up) or set the environment's docker_host"
T = TypeVar("T")


def container_name(service: str, slot: str, prefix: str = "") -> str:
    """``<service>-<slot>``; a ``prefix`` keeps a second environment on the same engine apart (tests)."""
    return f"{prefix}{service}-{slot}"


def labels_for(spec: SlotSpec, environment: str) -> dict[str, str]:
    return {
        f"{LABEL}.managed": "true",
        f"{LABEL}.environment": environment,
        f"{LABEL}.service": spec.service,
        f"{LABEL}.slot": spec.slot,
        f"{LABEL}.version": spec.version,
        f"{LABEL}.digest": spec.digest or "",
        f"{LABEL}.rollout-id": spec.rollout_id or "",
        f"{LABEL}.spec": spec.fingerprint or "",
        f"{LABEL}.health": spec.health,
    }


def image_ref(spec: SlotSpec) -> str:
    """``repo@digest`` when a digest is known (the exact image), else the image tag."""
    if not spec.image:
        raise PreconditionError(f"no image for {spec.service} {spec.version}", hint="build and push it first")
    if spec.digest and "@" not in spec.image:
        head, _, last = spec.image.rpartition("/")
        repo = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
        return f"{repo}@{spec.digest}"
    return spec.image


def run_kwargs(spec: SlotSpec, environment: str, data_dir: Path | None = None, prefix: str = "") -> dict[str, Any]:
    """The docker run arguments of a slot (pure; tested exactly).

    With ``data_dir``, ``<data_dir>/<service>`` is mounted at /data and SQLite lives there unless the slot's
    environment names a DATABASE_URL: both colours of a service share one database, as they would share a
    MariaDB server.
    """
    env = {
        **spec.env,
        "HOST": "127.0.0.1",
        "PORT": str(spec.port),
        "SERVICE_SLOT": spec.slot,
        "HEALTH_PATH": spec.health,  # what the image's HEALTHCHECK (course_healthcheck) GETs
        "APP_VERSION": spec.env.get("APP_VERSION", spec.version),
    }
    extra: dict[str, Any] = {}
    if data_dir is not None:
        extra["volumes"] = {str(data_dir / spec.service): {"bind": "/data", "mode": "rw"}}
        env.setdefault("DATABASE_URL", f"sqlite:////data/{spec.service}.db")
    return {
        **extra,
        **{
            "name": container_name(spec.service, spec.slot, prefix),
            "detach": True,
            "network_mode": "host",
            "environment": env,
            "labels": labels_for(spec, environment),
            "restart_policy": {"Name": "unless-stopped"},
        },
    }


class DockerTarget:
    """Slots as containers on one engine (local socket, tcp:// or ssh://)."""

    def __init__(
        self,
        *,
        environment: str,
        ports: Mapping[str, int],
        docker_host: str | None = None,
        file_sd_dir: Path | None = None,
        registry_auth: Mapping[str, str] | None = None,
        stop_timeout: int = 10,
        data_dir: Path | None = None,
        name_prefix: str = "",
    ):
        self.data_dir = data_dir
        self.name_prefix = name_prefix
        self.environment = environment
        self.ports = dict(ports)
        self.docker_host = docker_host
        self.file_sd_dir = file_sd_dir
        self.registry_auth = dict(registry_auth) if registry_auth else None
        self.stop_timeout = stop_timeout
        self._client: Any = None

    @contextmanager
    def _sdk(self, what: str) -> Iterator[None]:
        """Translate whatever the docker SDK (or its requests session) raises while doing ``what``."""
        import docker
        import requests

        try:
            yield
        except docker.errors.NotFound as exc:
            raise ExternalError(f"docker: {what}: not found ({_short(exc)})") from exc
        except requests.exceptions.ConnectionError as exc:
            where = self.docker_host or "DOCKER_HOST"
            raise PreconditionError(
                f"the docker engine at {where} does not answer ({what}): {_short(exc)}", hint=NO_ENGINE_HINT
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise ExternalTimeout(f"docker: {what} timed out: {_short(exc)}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise ExternalError(f"docker: {what} failed: {_short(exc)}") from exc

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        with self._sdk(what):
            return fn()

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker
            import requests

            url = self.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            if url.startswith("unix://") and not Path(url.removeprefix("unix://")).exists():
                # checked first: the SDK leaks the socket of a failed connect to a missing path
                raise PreconditionError(
                    f"the docker engine at {url} does not answer: {url.removeprefix('unix://')} does not exist",
                    hint=NO_ENGINE_HINT,
                )
            try:
                self._client = (
                    docker.DockerClient(base_url=self.docker_host) if self.docker_host else docker.from_env()
                )
                self._client.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                self._client = None
                raise PreconditionError(
                    f"the docker engine at {self.docker_host or 'DOCKER_HOST'} does not answer: {_short(exc)}",
                    hint=NO_ENGINE_HINT,
                ) from exc
        return self._client

    def address(self, service: str, slot: str) -> tuple[str, int]:
        return "127.0.0.1", slot_port(self.ports[service], slot)

    def _name(self, service: str, slot: str) -> str:
        return container_name(service, slot, self.name_prefix)

    def _get(self, service: str, slot: str) -> Any:
        import docker

        name = self._name(service, slot)
        with self._sdk(f"look up {name}"):
            try:
                return self.client.containers.get(name)
            except docker.errors.NotFound:
                return None

    def start(self, spec: SlotSpec) -> SlotState:
        import docker

        existing = self._get(spec.service, spec.slot)
        if existing is not None:
            labels = existing.labels or {}
            same = (
                labels.get(f"{LABEL}.version") == spec.version
                and labels.get(f"{LABEL}.digest", "") == (spec.digest or "")
                and labels.get(f"{LABEL}.spec", "") == (spec.fingerprint or "")
            )
            if same and existing.status == "running":
                return self._state(existing)
            self._remove(existing)
        self._check_port(spec)
        ref = image_ref(spec)
        name = self._name(spec.service, spec.slot)
        try:
            with self._sdk(f"start {name} from {ref}"):
                try:
                    self.client.images.get(ref)
                except docker.errors.ImageNotFound:
                    log.info("pulling %s", ref)
                    repo, _, tag = ref.partition("@") if "@" in ref else ref.rpartition(":")
                    self.client.images.pull(repo, tag=tag or None, auth_config=self.registry_auth)
                if self.data_dir is not None:
                    folder = self.data_dir / spec.service
                    folder.mkdir(parents=True, exist_ok=True)
                    folder.chmod(0o777)  # the services run as a non-root user inside their images
                container = self.client.containers.run(
                    ref, **run_kwargs(spec, self.environment, self.data_dir, self.name_prefix)
                )
                container.reload()  # run() answers the created container; its state now is what start returns
        except ExternalError as exc:
            cause = exc.__cause__
            if isinstance(cause, docker.errors.NotFound):  # ImageNotFound locally, or no such manifest
                raise PreconditionError(
                    f"image {ref} not found (locally or in the registry)",
                    hint="build and push it first (coursectl push)",
                ) from cause
            raise
        self.write_targets(spec.service)
        return self._state(container)

    def _check_port(self, spec: SlotSpec) -> None:
        """On a local engine (host network), another program on the slot's port would answer its readiness
        check while the container fails to bind: refused (exit 4) before anything is started."""
        url = self.docker_host or os.environ.get("DOCKER_HOST") or "unix://"
        if not url.startswith("unix://"):
            return  # a remote engine: its ports are not this machine's
        from coursectl.adapters.listeners import check_free

        check_free(
            "127.0.0.1",
            spec.port,
            what=self._name(spec.service, spec.slot),
            hint="stop that program, or give the service another port",
        )

    def _state(self, container: Any) -> SlotState:
        return self._state_of(container.labels or {}, container.status == "running")

    def _state_of(self, labels: Mapping[str, str], running: bool) -> SlotState:
        service, slot = labels.get(f"{LABEL}.service", ""), labels.get(f"{LABEL}.slot", "")
        return SlotState(
            service=service,
            slot=slot,
            version=labels.get(f"{LABEL}.version", "?"),
            port=slot_port(self.ports.get(service, 0), slot) if slot else 0,
            running=running,
            ready=running,
            digest=labels.get(f"{LABEL}.digest") or None,
            rollout_id=labels.get(f"{LABEL}.rollout-id") or None,
            fingerprint=labels.get(f"{LABEL}.spec") or None,
        )

    def wait_ready(self, service: str, slot: str, *, timeout: float) -> SlotState:
        """Until the slot answers the health path it was started with (its ``coursectl.health`` label)."""
        deadline = time.monotonic() + timeout
        _, port = self.address(service, slot)
        name = self._name(service, slot)
        while time.monotonic() < deadline:
            container = self._get(service, slot)
            if container is None:
                raise ExternalError(f"{name} does not exist")
            self._call(f"inspect {name}", container.reload)
            if container.status in ("exited", "dead"):
                raw = self._call(f"read the log of {name}", partial(container.logs, tail=20))
                tail = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
                raise ExternalError(f"{name} exited: {tail[-800:]}")
            health = (container.labels or {}).get(f"{LABEL}.health") or DEFAULT_HEALTH
            status, _ = http_get(f"http://127.0.0.1:{port}{health}", 1.0)
            if status == 200:
                return self._state(container)
            time.sleep(0.2)
        raise ExternalTimeout(f"{name} was not ready within {timeout:g} s")

    def smoke(self, service: str, slot: str, paths: Sequence[str]) -> list[str]:
        _, port = self.address(service, slot)
        problems = []
        for path in paths:
            status, _ = http_get(f"http://127.0.0.1:{port}{path}")
            if not 200 <= status < 300:
                problems.append(f"GET {path}: {status or 'no answer'}")
        return problems

    def slots(self, service: str) -> list[SlotState]:
        filters = {"label": [f"{LABEL}.service={service}", f"{LABEL}.environment={self.environment}"]}
        found = self._call(
            f"list the containers of {service}", lambda: self.client.containers.list(all=True, filters=filters)
        )
        return sorted((self._state(c) for c in found), key=lambda s: s.slot)

    def all_slots(self, services: Sequence[str]) -> dict[str, list[SlotState]]:
        """The slots of ``services`` from one listing of the environment's containers (``status``): the list
        answer carries the labels and the state, so no container is inspected one by one. Through a unix socket
        it is one standard-library request (docker_socket.py), without importing the SDK."""
        from coursectl.adapters import docker_socket

        labels = [f"{LABEL}.environment={self.environment}", f"{LABEL}.managed=true"]
        path = docker_socket.socket_path(self.docker_host)
        if path is not None:
            if not Path(path).exists():
                raise PreconditionError(
                    f"the docker engine at unix://{path} does not answer: {path} does not exist",
                    hint=NO_ENGINE_HINT,
                )
            rows = [
                (row.get("Labels") or {}, row.get("State") == "running", row.get("Names") or [])
                for row in docker_socket.list_containers(path, labels, hint=NO_ENGINE_HINT)
            ]
        else:
            found = self._call(
                f"list the containers of {self.environment}",
                lambda: self.client.containers.list(all=True, filters={"label": labels}, sparse=True),
            )
            # sparse objects: the list answer's own keys (their .labels/.status would want an inspect)
            rows = [
                (c.attrs.get("Labels") or {}, c.attrs.get("State") == "running", c.attrs.get("Names") or [])
                for c in found
            ]
        out: dict[str, list[SlotState]] = {name: [] for name in services}
        for row_labels, running, names in rows:
            service, slot = row_labels.get(f"{LABEL}.service", ""), row_labels.get(f"{LABEL}.slot", "")
            named = [n.lstrip("/") for n in names]
            if service in out and container_name(service, slot, self.name_prefix) in named:
                out[service].append(self._state_of(row_labels, running))
        return {name: sorted(slots, key=lambda s: s.slot) for name, slots in out.items()}

    def retire(self, service: str, slot: str) -> None:
        container = self._get(service, slot)
        if container is not None:
            self._remove(container)
        self.write_targets(service)

    def _remove(self, container: Any) -> None:
        import docker

        try:
            with self._sdk(f"stop {container.name}"):
                container.stop(timeout=self.stop_timeout)
        except (ExternalError, PreconditionError) as exc:  # removed with force below either way
            log.debug("%s", exc.message)
        with self._sdk(f"remove {container.name}"):
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass

    in_place: tuple[str, ...] = ()  # every strategy runs in a second container
    records_fingerprints = True  # a label of the container keeps the spec's fingerprint

    def healthy(self, state: SlotState, path: str) -> bool:
        return state.running and answers_ok(state.host, state.port, path)

    def service_urls(self) -> dict[str, str]:
        return {}  # slots reach each other through the edge

    def write_targets(self, service: str) -> None:
        """Prometheus file_sd targets for every running slot of ``service`` (one file per service)."""
        if self.file_sd_dir is None:
            return
        from coursectl.render.prometheus import render_file_sd

        self.file_sd_dir.mkdir(parents=True, exist_ok=True)
        slots = [s for s in self.slots(service) if s.running]
        path = self.file_sd_dir / f"coursectl-{self.environment}-{service}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(render_file_sd(self.environment, slots), encoding="utf-8")
        os.replace(tmp, path)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
