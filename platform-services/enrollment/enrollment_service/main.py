"""The enrollment service's HTTP API: enrol after a verified payment, list and check enrolments."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from course_common import ApiError, Principal, ServiceClient, Settings, create_service_app, current_principal
from course_common.amqp import ENROLLMENT_CREATED, tcp_check
from course_common.settings import env_float

from .events import AmqpPublisher, HttpPublisher, OutboxRelay, Publisher
from .schema import MIGRATIONS, enrollments, outbox

log = logging.getLogger(__name__)


class EnrollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    course_id: int = Field(ge=1)
    payment_id: int = Field(ge=1)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _doc(row: Any) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "course_id": row.course_id, "payment_id": row.payment_id,
            "created_at": row.created_at.isoformat() + "Z"}


router = APIRouter(prefix="/api/enrollment")
Caller = Annotated[Principal, Depends(current_principal)]


def _existing(conn: sa.Connection, user_id: int, course_id: int) -> Any:
    return conn.execute(sa.select(enrollments).where(enrollments.c.user_id == user_id,
                                                     enrollments.c.course_id == course_id)).first()


def _verify_payment(request: Request, who: Principal, body: EnrollIn) -> dict[str, Any]:
    r = request.app.state.payment_client.request("GET", f"/api/payment/payments/{body.payment_id}",
                                                 authorization=who.authorization)
    if r.status_code == 404:
        raise ApiError(402, "payment_required", f"no payment {body.payment_id} of yours was found")
    if r.status_code != 200:
        raise ApiError(503, "dependency_unavailable", "the payment service did not answer")
    payment = r.json()
    if payment.get("user_id") != who.user_id:
        raise ApiError(403, "not_your_payment", "that payment was made by someone else")
    if payment.get("course_id") != body.course_id:
        raise ApiError(422, "payment_course_mismatch", "that payment is for another course")
    if payment.get("status") != "succeeded":
        raise ApiError(402, "payment_not_succeeded", f"that payment is {payment.get('status')}, not succeeded")
    return payment


def _course_title(request: Request, course_id: int) -> str:
    try:
        r = request.app.state.course_client.request("GET", f"/api/course/courses/{course_id}")
        if r.status_code == 200:
            return str(r.json().get("title", ""))
    except ApiError:
        pass
    return f"course {course_id}"


@router.post("/enrollments", status_code=201)
def enrol(body: EnrollIn, request: Request, who: Caller) -> JSONResponse:
    state = request.app.state
    with state.db.connect() as conn:
        row = _existing(conn, who.user_id, body.course_id)
    if row is not None:
        return JSONResponse(_doc(row), status_code=200)
    _verify_payment(request, who, body)
    title = _course_title(request, body.course_id)
    try:
        with state.db.begin() as conn:
            eid = conn.execute(enrollments.insert().values(
                user_id=who.user_id, course_id=body.course_id, payment_id=body.payment_id,
                created_at=_now())).inserted_primary_key[0]
            event = {"event_id": str(uuid.uuid4()), "type": ENROLLMENT_CREATED, "enrollment_id": eid,
                     "user_id": who.user_id, "email": who.email, "course_id": body.course_id,
                     "course_title": title, "occurred_at": _now().isoformat() + "Z"}
            conn.execute(outbox.insert().values(event_id=event["event_id"], event_type=ENROLLMENT_CREATED,
                                                payload=json.dumps(event), created_at=_now(), attempts=0))
            row = conn.execute(sa.select(enrollments).where(enrollments.c.id == eid)).one()
    except sa.exc.IntegrityError:
        with state.db.connect() as conn:
            row = _existing(conn, who.user_id, body.course_id)
        if row is None:
            raise ApiError(409, "payment_already_used", "that payment was already used for an enrolment")
        return JSONResponse(_doc(row), status_code=200)
    state.metrics.inc("enrollments_total")
    log.info("enrolled", extra={"enrollment_id": eid, "course_id": body.course_id, "user_id": who.user_id})
    state.relay.wake()
    return JSONResponse(_doc(row), status_code=201)


@router.get("/enrollments")
def my_enrollments(request: Request, who: Caller) -> dict[str, Any]:
    with request.app.state.db.connect() as conn:
        rows = conn.execute(sa.select(enrollments).where(enrollments.c.user_id == who.user_id)
                            .order_by(enrollments.c.id)).all()
    return {"items": [_doc(r) for r in rows]}


@router.get("/enrollments/check")
def check(request: Request, who: Caller, course_id: Annotated[int, Query(ge=1)]) -> dict[str, Any]:
    with request.app.state.db.connect() as conn:
        row = _existing(conn, who.user_id, course_id)
    return {"user_id": who.user_id, "course_id": course_id, "enrolled": row is not None}


def create_app(settings: Settings | None = None, *, payment_client: ServiceClient | None = None,
               course_client: ServiceClient | None = None, publisher: Publisher | None = None,
               start_relay: bool = True) -> FastAPI:
    settings = settings or Settings.from_env("enrollment")
    amqp_url = settings.env.get("AMQP_URL")

    def _start(app: FastAPI) -> None:
        if start_relay:
            app.state.relay.start()

    def _stop(app: FastAPI) -> None:
        app.state.relay.stop()
        app.state.payment_client.close()
        app.state.course_client.close()

    app = create_service_app(settings, title="enrollment service", migrations=MIGRATIONS,
                             on_startup=[_start], on_shutdown=[_stop])
    app.state.payment_client = payment_client or ServiceClient.for_url("payment",
                                                                       settings.url("PAYMENT_URL", "payment"))
    app.state.course_client = course_client or ServiceClient.for_url("course", settings.url("COURSE_URL", "course"))
    if publisher is None:
        if amqp_url:
            publisher = AmqpPublisher(amqp_url)
        else:
            publisher = HttpPublisher(ServiceClient.for_url(
                "notification", settings.url("NOTIFICATION_URL", "notification")), settings.jwt_secret)
    if amqp_url:
        app.state.ready_checks["amqp"] = lambda: tcp_check(amqp_url, 5672)
    m = app.state.metrics
    m.counter("enrollments_total", "Enrolments created.")
    m.counter("events_published_total", "Outbox events delivered or failed, by transport and outcome.",
              ("transport", "outcome"))
    transport = publisher.transport
    app.state.relay = OutboxRelay(
        app.state.db, publisher, lambda outcome: m.inc("events_published_total", transport=transport,
                                                       outcome=outcome),
        interval=env_float("OUTBOX_INTERVAL_SECONDS", 1.0, settings.env, lo=0.05))
    app.include_router(router)
    return app
