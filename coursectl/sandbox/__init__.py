"""The local sandbox: a Docker engine, a Registry v2, Prometheus and the base image, on 127.0.0.1 only.

The names below are loaded on first use: a command that only needs the sandbox's addresses
(coursectl/sandbox/layout.py) does not import its machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coursectl.sandbox.credentials import Credentials
    from coursectl.sandbox.manager import Sandbox
    from coursectl.sandbox.model import ComponentStatus, SandboxSettings, SandboxStatus
    from coursectl.sandbox.prometheus import remove_targets, write_targets

_WHERE = {
    "Credentials": "credentials",
    "Sandbox": "manager",
    "ComponentStatus": "model",
    "SandboxSettings": "model",
    "SandboxStatus": "model",
    "remove_targets": "prometheus",
    "write_targets": "prometheus",
}

__all__ = [
    "ComponentStatus",
    "Credentials",
    "Sandbox",
    "SandboxSettings",
    "SandboxStatus",
    "remove_targets",
    "write_targets",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
