"""Calling another platform service over HTTP, with its failures translated into ApiError."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from .errors import ApiError

log = logging.getLogger(__name__)


class ServiceClient:
    """A small wrapper over an httpx.Client whose base_url is another service (tests pass a TestClient)."""

    def __init__(self, name: str, client: httpx.Client) -> None:
        self.name, self.client = name, client

    @classmethod
    def for_url(cls, name: str, base_url: str, timeout: float = 5.0) -> "ServiceClient":
        return cls(name, httpx.Client(base_url=base_url, timeout=timeout))

    def request(self, method: str, path: str, *, authorization: str | None = None,
                **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if authorization:
            headers["Authorization"] = authorization
        from .logging import request_id_var

        rid = request_id_var.get()
        if rid != "-":  # propagate the caller's request id; background work gets a fresh one downstream
            headers.setdefault("X-Request-ID", rid)
        try:
            return self.client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            log.warning("dependency call failed", extra={"dependency": self.name, "error": type(exc).__name__})
            raise ApiError(503, "dependency_unavailable", f"the {self.name} service is unavailable") from exc

    def close(self) -> None:
        self.client.close()
