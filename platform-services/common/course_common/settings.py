"""Read a service's settings from environment variables (secrets also from *_FILE)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping


class SettingsError(ValueError):
    """Raised when an environment variable has an invalid value; the message names the variable."""


def env_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """Return the secret in NAME, or the stripped contents of the file named by NAME_FILE, or None."""
    env = os.environ if env is None else env
    value = env.get(name)
    if value:
        return value
    path = env.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE: cannot read {path!r}: {exc.strerror}") from exc
    return None


def env_float(name: str, default: float, env: Mapping[str, str], lo: float | None = None,
              hi: float | None = None) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from exc
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise SettingsError(f"{name}: expected a value in [{lo}, {hi}], got {raw!r}")
    return value


def env_int(name: str, default: int, env: Mapping[str, str], lo: int | None = None) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from exc
    if lo is not None and value < lo:
        raise SettingsError(f"{name}: expected an integer >= {lo}, got {raw!r}")
    return value


DEFAULT_PORTS = {
    "user": 8001,
    "course": 8002,
    "payment": 8003,
    "enrollment": 8004,
    "notification": 8005,
    "content": 8006,
}

DEV_JWT_SECRET = "insecure-development-jwt-secret-change-me"


@dataclass(frozen=True)
class Settings:
    """What every service reads from its environment. Services read their own extras from `env`."""

    service: str
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = ""
    log_level: str = "INFO"
    jwt_secret: str = field(default=DEV_JWT_SECRET, repr=False)
    jwt_ttl_seconds: int = 3600
    fault_error_rate: float = 0.0
    fault_latency_ms: int = 0
    fault_seed: int | None = None
    version: str = "0.0.0-dev"
    git_sha: str = "unknown"
    build_time: str = "unknown"
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        seed_raw = env.get("FAULT_SEED", "")
        return cls(
            service=service,
            host=env.get("HOST") or "127.0.0.1",
            port=env_int("PORT", DEFAULT_PORTS.get(service, 8000), env, lo=1),
            database_url=env.get("DATABASE_URL") or f"sqlite:///./{service}.db",
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            jwt_secret=env_secret("JWT_SECRET", env) or DEV_JWT_SECRET,
            jwt_ttl_seconds=env_int("JWT_TTL_SECONDS", 3600, env, lo=1),
            fault_error_rate=env_float("FAULT_ERROR_RATE", 0.0, env, lo=0.0, hi=1.0),
            fault_latency_ms=env_int("FAULT_LATENCY_MS", 0, env, lo=0),
            fault_seed=env_int("FAULT_SEED", 0, env) if seed_raw else None,
            version=env.get("APP_VERSION") or "0.0.0-dev",
            git_sha=env.get("GIT_SHA") or "unknown",
            build_time=env.get("BUILD_TIME") or "unknown",
            env=env,
        )

    def url(self, name: str, service: str) -> str:
        """Base URL of another service: env NAME (e.g. PAYMENT_URL) or its standard loopback port."""
        return (self.env.get(name) or f"http://127.0.0.1:{DEFAULT_PORTS[service]}").rstrip("/")
