"""Helpers for the services' unit tests: settings on a temporary SQLite file, tokens for any role."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .auth import issue_token
from .settings import Settings

TEST_JWT_SECRET = "unit-test-jwt-secret-0123456789abcdef"


def make_settings(service: str, tmp_path: Path, extra: Mapping[str, str] | None = None) -> Settings:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / (service + '.db')}", "JWT_SECRET": TEST_JWT_SECRET}
    env.update(extra or {})
    return Settings.from_env(service, env)


def bearer(user_id: int, role: str, email: str | None = None, secret: str = TEST_JWT_SECRET,
           ttl: int = 86400) -> dict[str, str]:
    """An Authorization header for a test user. A day long by default: test modules mint tokens when they are
    collected, and the whole test session (every tier) runs for more than ten minutes before reaching them."""
    email = email or f"user{user_id}@example.com"
    return {"Authorization": f"Bearer {issue_token(secret, user_id, email, role, ttl)}"}
