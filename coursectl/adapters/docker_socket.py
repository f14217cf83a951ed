"""Read-only Docker Engine API requests over the engine's unix socket, with the standard library only.

``status`` needs one container listing; the docker SDK would import requests and urllib3 for it (a third of the
command's start-up). Anything else — and any engine not reached through a unix socket (tcp://, ssh://) — goes
through the SDK in docker_target.py. Errors are coursectl's: no engine → PreconditionError (exit 4), an error
answer → ExternalError (exit 5).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from coursectl.errors import ExternalError, PreconditionError

DEFAULT_SOCKET = "/var/run/docker.sock"


def socket_path(docker_host: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The unix socket of the engine (``docker_host``, else DOCKER_HOST, else the default); None for others."""
    env = os.environ if environ is None else environ
    url = docker_host or env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    return url.removeprefix("unix://") if url.startswith("unix://") else None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get_json(path: str, url: str, *, hint: str, timeout: float = 10.0) -> Any:
    """GET ``url`` (e.g. ``/containers/json?...``) from the engine at unix socket ``path``; its JSON answer."""
    conn = _UnixConnection(path, timeout)
    try:
        try:
            conn.request("GET", url)
            resp = conn.getresponse()
            body = resp.read()
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise PreconditionError(
                f"the docker engine at unix://{path} does not answer: {exc}", hint=hint
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ExternalError(f"docker: GET {url.split('?')[0]} failed: {exc}") from exc
    finally:
        conn.close()
    if resp.status != 200:
        raise ExternalError(f"docker: GET {url.split('?')[0]} answered {resp.status}: {body[:300]!r}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ExternalError(f"docker: GET {url.split('?')[0]} did not answer JSON") from exc


def list_containers(path: str, labels: list[str], *, hint: str) -> list[dict[str, Any]]:
    """Every container (running or not) carrying all ``labels`` (``key=value``), as the engine lists them."""
    filters = quote(json.dumps({"label": labels}), safe="")
    found = get_json(path, f"/containers/json?all=1&filters={filters}", hint=hint)
    if not isinstance(found, list):
        raise ExternalError("docker: the container list is not a list")
    return [c for c in found if isinstance(c, dict)]
