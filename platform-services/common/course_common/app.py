"""The app factory every service uses: middleware, error handlers, health, metrics, version, lifecycle."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Sequence

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .db import Database
from .errors import install_error_handlers
from .faults import FaultInjector
from .logging import request_id_var
from .metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from .migrations import Migration, migrate
from .settings import DEV_JWT_SECRET, Settings

log = logging.getLogger("course_common.access")
_RID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

ReadyCheck = Callable[[], None]
Hook = Callable[[FastAPI], None]


async def inject_faults(request: Request) -> None:
    """App-wide dependency: runs after routing (so metrics know the route), never on health/metrics/version."""
    faults: FaultInjector = request.app.state.faults
    if not faults.enabled or faults.exempt(request.url.path):
        return
    metrics: ServiceMetrics = request.app.state.metrics
    if faults.latency_ms:
        metrics.faults.labels(metrics.service, "latency").inc()
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.should_fail():
        metrics.faults.labels(metrics.service, "error").inc()
        raise InjectedFault()


class InjectedFault(Exception):
    """Raised by inject_faults; answered as a 500 like a real failure would be."""


class ServiceMiddleware:
    """Request id, metrics by route template and one access-log line per request."""

    def __init__(self, app: ASGIApp, service_app: FastAPI) -> None:
        self.app = app
        self.service_app = service_app

    @staticmethod
    def _route_template(scope: Scope) -> str:
        route = scope.get("route")
        return getattr(route, "path", None) or "<unmatched>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.service_app.state
        metrics: ServiceMetrics = state.metrics
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _RID_OK.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        path: str = scope.get("path", "")
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = self._route_template(scope)
            method = scope.get("method", "GET")
            metrics.observe_request(route, method, status, elapsed)
            quiet = path.startswith("/health/") or path == "/metrics"
            log.log(logging.DEBUG if quiet else logging.INFO, "request",
                    extra={"method": method, "path": path, "route": route, "status": status,
                           "duration_ms": round(elapsed * 1000, 2)})
            request_id_var.reset(token)


def create_service_app(
    settings: Settings,
    *,
    title: str,
    migrations: Sequence[Migration] = (),
    ready_checks: dict[str, ReadyCheck] | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> FastAPI:
    """A FastAPI app with the platform's common endpoints; the service adds its routers and state."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db: Database = app.state.db
        applied = await run_in_threadpool(migrate, db.engine, settings.service, list(migrations))
        if applied:
            log.info("schema migrated", extra={"applied": applied})
        for hook in on_startup:
            await run_in_threadpool(hook, app)
        app.state.metrics.initialise_routes(
            (path, method.upper()) for path, item in app.openapi().get("paths", {}).items() for method in item
        )
        try:
            yield
        finally:
            for hook in reversed(on_shutdown):
                try:
                    await run_in_threadpool(hook, app)
                except Exception:  # noqa: BLE001 - shutdown must go on
                    logging.getLogger(__name__).exception("shutdown hook failed")
            db.dispose()

    app = FastAPI(title=title, version=settings.version, lifespan=lifespan,
                  dependencies=[Depends(inject_faults)],
                  docs_url=f"/api/{settings.service}/docs", openapi_url=f"/api/{settings.service}/openapi.json",
                  redoc_url=None)
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.state.metrics = ServiceMetrics(settings.service)
    app.state.faults = FaultInjector(settings.fault_error_rate, settings.fault_latency_ms, settings.fault_seed)
    if settings.jwt_secret == DEV_JWT_SECRET:
        log.warning("JWT_SECRET is not set: using an insecure development secret")
    checks: dict[str, ReadyCheck] = {"database": app.state.db.ping}
    checks.update(ready_checks or {})
    app.state.ready_checks = checks
    install_error_handlers(app)

    async def _injected(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse({"error": {"code": "injected_fault", "message": "fault injected (FAULT_ERROR_RATE)"}},
                            status_code=500)

    app.add_exception_handler(InjectedFault, _injected)
    app.add_middleware(ServiceMiddleware, service_app=app)

    @app.get("/health/live", include_in_schema=False)
    def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/ready", include_in_schema=False)
    def ready() -> JSONResponse:
        results: dict[str, str] = {}
        ok = True
        for name, check in app.state.ready_checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                ok = False
                results[name] = f"failed: {type(exc).__name__}"
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": results},
                            status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/version", include_in_schema=False)
    def version() -> dict[str, Any]:
        return {"service": settings.service, "version": settings.version, "git_sha": settings.git_sha,
                "build_time": settings.build_time}

    return app
