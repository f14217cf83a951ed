"""The course service's tables and their migrations."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from course_common import Migration


def _courses(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "courses", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instructor_id", sa.Integer, nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def _lessons(m: sa.MetaData) -> sa.Table:
    return sa.Table(
        "lessons", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("course_id", sa.Integer, sa.ForeignKey("courses.id"), nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


metadata = sa.MetaData()
courses = _courses(metadata)
lessons = _lessons(metadata)


def _v1(conn: Connection) -> None:
    # Version 1 of the schema, spelled out here so that later changes to the live tables need a new migration.
    m = sa.MetaData()
    _courses(m)
    _lessons(m)
    m.create_all(conn)


MIGRATIONS = [Migration(1, "create courses and lessons", _v1)]
