"""course_common: what every course platform service shares."""

from __future__ import annotations

from .app import create_service_app
from .auth import ROLES, Principal, current_principal, issue_token, require_roles, verify_token
from .clients import ServiceClient
from .db import Database
from .errors import ApiError
from .logging import configure_logging
from .metrics import ServiceMetrics
from .migrations import Migration, migrate
from .settings import DEFAULT_PORTS, Settings, SettingsError, env_secret

__all__ = [
    "DEFAULT_PORTS",
    "ROLES",
    "ApiError",
    "Database",
    "Migration",
    "Principal",
    "ServiceClient",
    "ServiceMetrics",
    "Settings",
    "SettingsError",
    "configure_logging",
    "create_service_app",
    "current_principal",
    "env_secret",
    "issue_token",
    "migrate",
    "require_roles",
    "verify_token",
]
