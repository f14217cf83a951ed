"""The content service's table (lesson bodies) and its migrations."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from course_common import Migration


def _lesson_contents(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "lesson_contents", m,
        sa.Column("course_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("lesson_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


metadata = sa.MetaData()
lesson_contents = _lesson_contents(metadata)


def _v1(conn: Connection) -> None:
    m = sa.MetaData()
    _lesson_contents(m)
    m.create_all(conn)


MIGRATIONS = [Migration(1, "create lesson_contents", _v1)]
