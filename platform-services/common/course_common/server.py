"""Run a service with uvicorn on HOST:PORT with JSON logs (`python3 -m <svc>_service`)."""

from __future__ import annotations

import asyncio
import sys
from types import FrameType
from typing import Any, Callable

from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .logging import configure_logging
from .settings import Settings, SettingsError, env_secret

IDLE_TICK = 1.0  # seconds between an idle server's housekeeping wake-ups (uvicorn's own: 0.1)


def serve(service: str, factory: Callable[[Settings], FastAPI]) -> None:
    import uvicorn

    try:
        settings = Settings.from_env(service)
    except SettingsError as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc
    try:
        secrets = [settings.jwt_secret, *(env_secret(name, settings.env) or ""
                                          for name in ("CONTENT_SIGNING_KEY", "SMTP_PASSWORD", "ADMIN_PASSWORD")),
                   make_url(settings.database_url).password or ""]
    except (SettingsError, ArgumentError) as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc
    configure_logging(service, settings.log_level, secrets)
    try:
        app = factory(settings)
    except SettingsError as exc:
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(3) from exc
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                            proxy_headers=False, timeout_graceful_shutdown=10)
    quiet_server(config).run()


def quiet_server(config: Any) -> Any:
    """uvicorn's Server, but an idle one wakes once a second instead of ten times (its housekeeping tick: the
    Date header, the exit flag), so an idle service costs next to nothing; a stop signal still wakes it at once."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        _loop: asyncio.AbstractEventLoop | None = None
        _wake: asyncio.Event | None = None

        async def main_loop(self) -> None:
            self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 10) % 864000  # uvicorn refreshes the Date header when counter % 10 == 0
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=IDLE_TICK)
                except TimeoutError:
                    pass
                should_exit = await self.on_tick(counter)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            if self._loop is not None and self._wake is not None:
                self._loop.call_soon_threadsafe(self._wake.set)

    return QuietServer(config)
