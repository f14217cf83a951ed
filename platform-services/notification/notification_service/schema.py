"""The notification service's table (one row per event, the e-mail's state) and its migrations."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from course_common import Migration


def _notifications(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "notifications", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False, index=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=True),
    )


metadata = sa.MetaData()
notifications = _notifications(metadata)


def _v1(conn: Connection) -> None:
    m = sa.MetaData()
    _notifications(m)
    m.create_all(conn)


MIGRATIONS = [Migration(1, "create notifications", _v1)]
