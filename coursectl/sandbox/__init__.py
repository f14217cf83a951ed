"""The local sandbox: a Docker engine, a Registry v2, Prometheus and the base image, on 127.0.0.1 only."""

from __future__ import annotations

from coursectl.sandbox.credentials import Credentials
from coursectl.sandbox.manager import Sandbox
from coursectl.sandbox.model import ComponentStatus, SandboxSettings, SandboxStatus
from coursectl.sandbox.prometheus import remove_targets, write_targets

__all__ = [
    "ComponentStatus",
    "Credentials",
    "Sandbox",
    "SandboxSettings",
    "SandboxStatus",
    "remove_targets",
    "write_targets",
]
