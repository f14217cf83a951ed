"""The enrollment service's tables (enrolments and the event outbox) and their migrations."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from course_common import Migration


def _enrollments(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "enrollments", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("course_id", sa.Integer, nullable=False),
        sa.Column("payment_id", sa.Integer, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "course_id", name="uq_enrollments_user_course"),
    )


def _outbox(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=True, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("last_error", sa.String(200), nullable=True),
    )


metadata = sa.MetaData()
enrollments = _enrollments(metadata)
outbox = _outbox(metadata)


def _v1(conn: Connection) -> None:
    m = sa.MetaData()
    _enrollments(m)
    _outbox(m)
    m.create_all(conn)


MIGRATIONS = [Migration(1, "create enrollments and outbox", _v1)]
