"""The notification service's HTTP API (event intake without a broker, a user's notifications) and wiring."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Annotated, Any, Callable

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from course_common import ApiError, Principal, Settings, create_service_app, current_principal, env_secret
from course_common.amqp import tcp_check
from course_common.settings import env_float, env_int

from .consumer import Consumer
from .schema import MIGRATIONS, notifications
from .store import EnrollmentCreated, Sender, SmtpConfig, record, smtp_send

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/notification")
Caller = Annotated[Principal, Depends(current_principal)]


@router.post("/events", status_code=202)
def intake(event: EnrollmentCreated, request: Request, who: Caller) -> JSONResponse:
    """Direct delivery of an event when no broker is configured (the enrollment service's HTTP fallback)."""
    if who.role != "admin" and who.user_id != event.user_id:
        raise ApiError(403, "forbidden", "an event may only be sent on behalf of its own user")
    state = request.app.state
    new = record(state.db, event)
    state.metrics.inc("events_received_total", transport="http", outcome="recorded" if new else "duplicate")
    state.sender.wake()
    return JSONResponse({"event_id": event.event_id, "recorded": new}, status_code=202)


@router.get("/notifications")
def mine(request: Request, who: Caller) -> dict[str, Any]:
    with request.app.state.db.connect() as conn:
        rows = conn.execute(sa.select(notifications).where(notifications.c.user_id == who.user_id)
                            .order_by(notifications.c.id)).all()
    return {"items": [{"id": r.id, "event_id": r.event_id, "subject": r.subject, "status": r.status,
                       "attempts": r.attempts} for r in rows]}


def create_app(settings: Settings | None = None, *, send: Callable[[EmailMessage], None] | None = None,
               start_workers: bool = True) -> FastAPI:
    settings = settings or Settings.from_env("notification")
    env = settings.env
    smtp = SmtpConfig(host=env.get("SMTP_HOST") or "127.0.0.1", port=env_int("SMTP_PORT", 25, env, lo=1),
                      sender=env.get("SMTP_FROM") or SmtpConfig.sender,
                      username=env.get("SMTP_USERNAME") or None, password=env_secret("SMTP_PASSWORD", env),
                      starttls=(env.get("SMTP_STARTTLS") or "").lower() in ("1", "true", "yes"))
    amqp_url = env.get("AMQP_URL")

    def _start(app: FastAPI) -> None:
        if start_workers:
            app.state.sender.start()
            if app.state.consumer is not None:
                app.state.consumer.start()

    def _stop(app: FastAPI) -> None:
        if app.state.consumer is not None:
            app.state.consumer.stop()
        app.state.sender.stop()

    app = create_service_app(settings, title="notification service", migrations=MIGRATIONS,
                             on_startup=[_start], on_shutdown=[_stop])
    m = app.state.metrics
    m.counter("events_received_total", "Enrollment events received, by transport and outcome.",
              ("transport", "outcome"))
    m.counter("emails_total", "E-mail send attempts, by outcome (sent, failed).", ("outcome",))
    app.state.sender = Sender(app.state.db, send or smtp_send(smtp), smtp.sender,
                              retry_base=env_float("NOTIFY_RETRY_BASE_SECONDS", 1.0, env, lo=0.0),
                              interval=env_float("NOTIFY_POLL_SECONDS", 1.0, env, lo=0.05),
                              on_result=lambda outcome: m.inc("emails_total", outcome=outcome))

    def handle(event: EnrollmentCreated) -> None:
        new = record(app.state.db, event)
        m.inc("events_received_total", transport="amqp", outcome="recorded" if new else "duplicate")
        app.state.sender.wake()

    app.state.consumer = Consumer(amqp_url, handle) if amqp_url else None
    if amqp_url:
        app.state.ready_checks["amqp"] = lambda: tcp_check(amqp_url, 5672)
    if env.get("SMTP_HOST"):
        app.state.ready_checks["smtp"] = lambda: tcp_check(f"smtp://{smtp.host}:{smtp.port}", 25)
    app.include_router(router)
    return app
