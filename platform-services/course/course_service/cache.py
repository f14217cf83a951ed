"""A read-through cache of catalogue answers in Redis, invalidated by bumping a generation number."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

log = logging.getLogger(__name__)


class CatalogueCache:
    """Caches JSON documents under `course:g<generation>:<key>`; any write bumps the generation."""

    GEN_KEY = "course:cache:generation"

    def __init__(self, client: Any | None, ttl_seconds: int = 60,
                 on_result: Callable[[str], None] = lambda _: None) -> None:
        self.client, self.ttl, self.on_result = client, ttl_seconds, on_result

    @classmethod
    def from_url(cls, url: str | None, ttl_seconds: int, on_result: Callable[[str], None]) -> "CatalogueCache":
        if not url:
            return cls(None, ttl_seconds, on_result)
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), ttl_seconds, on_result)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def ping(self) -> None:
        if self.client is not None:
            self.client.ping()

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        if self.client is None:
            return compute()
        try:
            gen = int(self.client.get(self.GEN_KEY) or 0)
            full = f"course:g{gen}:{key}"
            raw = self.client.get(full)
            if raw is not None:
                self.on_result("hit")
                return json.loads(raw)
        except Exception as exc:  # noqa: BLE001 - the cache is optional; the database answers
            log.warning("cache read failed", extra={"error": type(exc).__name__})
            self.on_result("error")
            return compute()
        self.on_result("miss")
        value = compute()
        try:
            self.client.set(full, json.dumps(value), ex=self.ttl)
        except Exception as exc:  # noqa: BLE001
            log.warning("cache write failed", extra={"error": type(exc).__name__})
        return value

    def invalidate(self) -> None:
        if self.client is None:
            return
        try:
            self.client.incr(self.GEN_KEY)
        except Exception as exc:  # noqa: BLE001
            log.warning("cache invalidation failed", extra={"error": type(exc).__name__})

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
