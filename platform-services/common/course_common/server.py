"""Run a service with uvicorn on HOST:PORT with JSON logs (`python3 -m <svc>_service`)."""

from __future__ import annotations

import sys
from typing import Callable

from fastapi import FastAPI

from .logging import configure_logging
from .settings import Settings, SettingsError


def serve(service: str, factory: Callable[[Settings], FastAPI]) -> None:
    import uvicorn

    try:
        settings = Settings.from_env(service)
    except SettingsError as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc
    secrets = [settings.jwt_secret, settings.env.get("CONTENT_SIGNING_KEY", ""),
               settings.env.get("SMTP_PASSWORD", "")]
    configure_logging(service, settings.log_level, secrets)
    try:
        app = factory(settings)
    except SettingsError as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                proxy_headers=False, timeout_graceful_shutdown=10)
