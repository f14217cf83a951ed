"""The payment service's HTTP API: pay for a course once per Idempotency-Key, read one's payments."""

from __future__ import annotations

import hashlib
import re
import logging
import time
from datetime import datetime, timezone
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from course_common import ApiError, Principal, ServiceClient, Settings, create_service_app, current_principal
from course_common.settings import env_float

from .provider import SimulatedProvider, luhn_ok
from .schema import MIGRATIONS, charges, payments

log = logging.getLogger(__name__)
KEY_PATTERN = r"^[A-Za-z0-9._:-]{8,100}$"


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=12, max_length=19, pattern=r"^[0-9]+$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str = Field(pattern=r"^[0-9]{3,4}$")


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    course_id: int = Field(ge=1)
    card: CardIn


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _doc(row: Any) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "course_id": row.course_id, "amount_cents": row.amount_cents,
            "currency": row.currency, "status": row.status, "decline_code": row.decline_code,
            "card_last4": row.card_last4, "idempotency_key": row.idempotency_key}


def _answer(row: Any, replayed: bool) -> JSONResponse:
    status = {"succeeded": 201, "declined": 402}.get(row.status, 202)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(_doc(row), status_code=status, headers=headers)


router = APIRouter(prefix="/api/payment")
Caller = Annotated[Principal, Depends(current_principal)]


def _find(conn: sa.Connection, user_id: int, key: str) -> Any:
    return conn.execute(sa.select(payments).where(payments.c.user_id == user_id,
                                                  payments.c.idempotency_key == key)).first()


def _replay(request: Request, who: Principal, key: str, request_hash: str) -> JSONResponse:
    """Answer a retried request with the first one's outcome, waiting while the first is still charging."""
    state = request.app.state
    deadline = time.monotonic() + state.wait_seconds
    while True:
        with state.db.connect() as conn:
            row = _find(conn, who.user_id, key)
        if row is None:  # the first attempt rolled back (e.g. its course lookup failed): nothing to replay
            raise ApiError(409, "payment_in_progress", "retry the request")
        if row.request_hash != request_hash:
            raise ApiError(422, "idempotency_key_reused",
                           "this Idempotency-Key was used for a different request")
        if row.status != "processing":
            state.metrics.inc("payment_replays_total")
            return _answer(row, replayed=True)
        if time.monotonic() > deadline:
            raise ApiError(409, "payment_in_progress", "a request with this Idempotency-Key is still processing")
        time.sleep(0.05)


@router.post("/payments")
def pay(body: PaymentIn, request: Request, who: Caller,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> JSONResponse:
    state = request.app.state
    if idempotency_key is None:
        raise ApiError(400, "idempotency_key_required", "send an Idempotency-Key header (8-100 characters)")
    if not re.match(KEY_PATTERN, idempotency_key):
        raise ApiError(400, "invalid_idempotency_key", "the Idempotency-Key must be 8-100 of [A-Za-z0-9._:-]")
    if not luhn_ok(body.card.number):
        raise ApiError(422, "invalid_card_number", "the card number is not valid")
    request_hash = hashlib.sha256(f"{body.course_id}|{body.card.number}|{body.card.exp_month}|"
                                  f"{body.card.exp_year}".encode()).hexdigest()
    with state.db.connect() as conn:
        if _find(conn, who.user_id, idempotency_key) is not None:
            return _replay(request, who, idempotency_key, request_hash)
        paid = conn.execute(sa.select(payments.c.id).where(
            payments.c.user_id == who.user_id, payments.c.course_id == body.course_id,
            payments.c.status == "succeeded")).first()
    if paid is not None:
        raise ApiError(409, "already_paid", f"you have already paid for course {body.course_id}",
                       {"payment_id": paid.id})
    course = _course(request, body.course_id)
    now = _now()
    try:
        with state.db.begin() as conn:
            pid = conn.execute(payments.insert().values(
                user_id=who.user_id, course_id=body.course_id, idempotency_key=idempotency_key,
                request_hash=request_hash, amount_cents=course["price_cents"], currency=course["currency"],
                status="processing", card_last4=body.card.number[-4:], created_at=now, updated_at=now,
            )).inserted_primary_key[0]
    except sa.exc.IntegrityError:
        return _replay(request, who, idempotency_key, request_hash)  # a concurrent retry got there first
    result = state.provider.charge(body.card.number, body.card.exp_month, body.card.exp_year,
                                   course["price_cents"], course["currency"])
    with state.db.begin() as conn:
        if result.succeeded:
            conn.execute(charges.insert().values(payment_id=pid, provider_charge_id=result.charge_id,
                                                 amount_cents=course["price_cents"], currency=course["currency"],
                                                 created_at=_now()))
        conn.execute(payments.update().where(payments.c.id == pid).values(
            status="succeeded" if result.succeeded else "declined", decline_code=result.decline_code,
            updated_at=_now()))
        row = conn.execute(sa.select(payments).where(payments.c.id == pid)).one()
    state.metrics.inc("payments_total", status=row.status)
    if result.succeeded:
        state.metrics.counter("payment_amount_cents_total", "").labels(
            service=state.settings.service, currency=row.currency).inc(row.amount_cents)
    log.info("payment processed", extra={"payment_id": pid, "status": row.status, "course_id": body.course_id})
    return _answer(row, replayed=False)


def _course(request: Request, course_id: int) -> dict[str, Any]:
    r = request.app.state.course_client.request("GET", f"/api/course/courses/{course_id}")
    if r.status_code == 404:
        raise ApiError(404, "course_not_found", f"no course {course_id}")
    if r.status_code != 200:
        raise ApiError(503, "dependency_unavailable", "the course service did not answer")
    return r.json()


@router.get("/payments/{payment_id}")
def get_payment(payment_id: int, request: Request, who: Caller) -> dict[str, Any]:
    with request.app.state.db.connect() as conn:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).first()
    if row is None or (row.user_id != who.user_id and who.role != "admin"):
        raise ApiError(404, "not_found", f"no payment {payment_id}")
    return _doc(row)


@router.get("/payments")
def my_payments(request: Request, who: Caller,
                course_id: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    q = sa.select(payments).where(payments.c.user_id == who.user_id).order_by(payments.c.id)
    if course_id is not None:
        q = q.where(payments.c.course_id == course_id)
    with request.app.state.db.connect() as conn:
        rows = conn.execute(q).all()
    return {"items": [_doc(r) for r in rows]}


def create_app(settings: Settings | None = None, course_client: ServiceClient | None = None) -> FastAPI:
    settings = settings or Settings.from_env("payment")

    def _close(app: FastAPI) -> None:
        app.state.course_client.close()

    app = create_service_app(settings, title="payment service", migrations=MIGRATIONS, on_shutdown=[_close])
    app.state.provider = SimulatedProvider()
    app.state.wait_seconds = env_float("PAYMENT_WAIT_SECONDS", 10.0, settings.env, lo=0.0)
    app.state.course_client = course_client or ServiceClient.for_url("course", settings.url("COURSE_URL", "course"))
    m = app.state.metrics
    m.counter("payments_total", "Payments processed, by outcome (succeeded, declined).", ("status",))
    m.counter("payment_replays_total", "Retried payment requests answered from their first outcome.")
    m.counter("payment_amount_cents_total", "Money charged, in cents, by currency.", ("currency",))
    app.include_router(router)
    return app
