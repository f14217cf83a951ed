"""The payment service's tables and their migrations."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from course_common import Migration


def _payments(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "payments", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("course_id", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decline_code", sa.String(50), nullable=True),
        sa.Column("card_last4", sa.String(4), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "idempotency_key", name="uq_payments_user_key"),
    )


def _charges(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "charges", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("payment_id", sa.Integer, sa.ForeignKey("payments.id"), nullable=False, unique=True),
        sa.Column("provider_charge_id", sa.String(64), nullable=False),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


metadata = sa.MetaData()
payments = _payments(metadata)
charges = _charges(metadata)


def _v1(conn: Connection) -> None:
    m = sa.MetaData()
    _payments(m)
    _charges(m)
    m.create_all(conn)


MIGRATIONS = [Migration(1, "create payments and charges", _v1)]
