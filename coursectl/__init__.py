"""coursectl: release control plane for the course platform, as a library.

The command-line interface is a thin layer over these names; everything it can do, Python can do::

    import coursectl

    loaded = coursectl.load_config("coursectl.yaml", "local")
    with coursectl.open_ledger(coursectl.state_dir()) as ledger:
        print(ledger.events(service="user", limit=5))

Names are imported on first use, so ``import coursectl`` (and ``coursectl --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ToolMissing": "coursectl.errors",
    "Interrupted": "coursectl.errors",
    "InputError": "coursectl.errors",
    "ExternalTimeout": "coursectl.errors",
    "AuthError": "coursectl.errors",
    "BackupContext": "coursectl.api.backup",
    "BackupCorrupt": "coursectl.errors",
    "BackupOutcome": "coursectl.domain",
    "BuildReport": "coursectl.api.build",
    "ConfigError": "coursectl.errors",
    "Delivery": "coursectl.domain",
    "Notification": "coursectl.domain",
    "NotificationService": "coursectl.notify.dispatcher",
    "notify_backup": "coursectl.api.notify",
    "CoursectlError": "coursectl.errors",
    "ExternalError": "coursectl.errors",
    "Finding": "coursectl.domain",
    "GateBlocked": "coursectl.errors",
    "ImageService": "coursectl.api.build",
    "LedgerEvent": "coursectl.domain",
    "LoadedConfig": "coursectl.config.loader",
    "LockHeld": "coursectl.errors",
    "LockInfo": "coursectl.domain",
    "PreconditionError": "coursectl.errors",
    "ReleaseReport": "coursectl.api.release",
    "RolloutContext": "coursectl.api.rollout",
    "RolloutFailed": "coursectl.errors",
    "Sandbox": "coursectl.sandbox",
    "SandboxSettings": "coursectl.sandbox",
    "ScanReport": "coursectl.scan.report",
    "ScanRequest": "coursectl.api.scan",
    "SbomPackage": "coursectl.domain",
    "SbomRequest": "coursectl.api.sbom",
    "SbomResult": "coursectl.api.sbom",
    "SbomService": "coursectl.api.sbom",
    "SqliteLedger": "coursectl.ledger.sqlite",
    "UsageError": "coursectl.errors",
    "check_quality_gate": "coursectl.api.quality_gate",
    "deploy": "coursectl.api.rollout",
    "dora_report": "coursectl.api.metrics",
    "load_config": "coursectl.config.loader",
    "open_ledger": "coursectl.ledger.sqlite",
    "plan_deploy": "coursectl.api.rollout",
    "release": "coursectl.api.release",
    "rollback": "coursectl.api.rollout",
    "run_journey": "coursectl.api.journey",
    "run_scan": "coursectl.api.scan",
    "state_dir": "coursectl.paths",
    "status": "coursectl.api.rollout",
    "success_report": "coursectl.api.metrics",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coursectl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
