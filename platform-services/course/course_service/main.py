"""The course service's HTTP API: browse and search the catalogue; instructors manage their courses."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from course_common import ApiError, Principal, Settings, create_service_app, require_roles
from course_common.settings import env_int

from .cache import CatalogueCache
from .schema import MIGRATIONS, courses, lessons

log = logging.getLogger(__name__)


class CourseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10000)
    price_cents: int = Field(ge=0, le=10_000_000)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


class CoursePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10000)
    price_cents: int | None = Field(default=None, ge=0, le=10_000_000)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class LessonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    position: int | None = Field(default=None, ge=1, le=10000)


class LessonPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=200)
    position: int | None = Field(default=None, ge=1, le=10000)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _course_doc(row: Any) -> dict[str, Any]:
    return {"id": row.id, "instructor_id": row.instructor_id, "title": row.title, "description": row.description,
            "price_cents": row.price_cents, "currency": row.currency}


def _lesson_doc(row: Any) -> dict[str, Any]:
    return {"id": row.id, "course_id": row.course_id, "title": row.title, "position": row.position}


router = APIRouter(prefix="/api/course")
Writer = Annotated[Principal, Depends(require_roles("instructor", "admin"))]


def _load_course(conn: sa.Connection, course_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(courses).where(courses.c.id == course_id)).first()
    if row is None:
        return None
    doc = _course_doc(row)
    ls = conn.execute(sa.select(lessons).where(lessons.c.course_id == course_id)
                      .order_by(lessons.c.position, lessons.c.id)).all()
    doc["lessons"] = [_lesson_doc(x) for x in ls]
    return doc


def _owned_course(conn: sa.Connection, course_id: int, who: Principal) -> Any:
    row = conn.execute(sa.select(courses).where(courses.c.id == course_id)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no course {course_id}")
    if who.role != "admin" and row.instructor_id != who.user_id:
        raise ApiError(403, "not_owner", "only the course's instructor (or an admin) may change it")
    return row


@router.get("/courses")
def list_courses(request: Request,
                 page: Annotated[int, Query(ge=1, le=100000)] = 1,
                 page_size: Annotated[int, Query(ge=1, le=100)] = 20,
                 q: Annotated[str | None, Query(max_length=100)] = None) -> dict[str, Any]:
    state = request.app.state
    term = (q or "").strip().lower()

    def compute() -> dict[str, Any]:
        where = sa.true()
        if term:
            like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where = sa.or_(sa.func.lower(courses.c.title).like(like, escape="\\"),
                           sa.func.lower(courses.c.description).like(like, escape="\\"))
        with state.db.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(courses).where(where)).scalar_one()
            rows = conn.execute(sa.select(courses).where(where).order_by(courses.c.id)
                                .limit(page_size).offset((page - 1) * page_size)).all()
        return {"items": [_course_doc(r) for r in rows], "page": page, "page_size": page_size, "total": total,
                "q": term or None}

    return state.cache.get_or_compute(f"list:{page}:{page_size}:{term}", compute)


@router.get("/courses/{course_id}")
def get_course(course_id: int, request: Request) -> dict[str, Any]:
    state = request.app.state

    def compute() -> dict[str, Any] | None:
        with state.db.connect() as conn:
            return _load_course(conn, course_id)

    doc = state.cache.get_or_compute(f"course:{course_id}", compute)
    if doc is None:
        raise ApiError(404, "not_found", f"no course {course_id}")
    return doc


@router.post("/courses", status_code=201)
def create_course(body: CourseIn, request: Request, who: Writer) -> dict[str, Any]:
    state = request.app.state
    now = _now()
    with state.db.begin() as conn:
        cid = conn.execute(courses.insert().values(instructor_id=who.user_id, created_at=now, updated_at=now,
                                                   **body.model_dump())).inserted_primary_key[0]
        doc = _load_course(conn, cid)
    state.cache.invalidate()
    state.metrics.inc("courses_created_total")
    log.info("course created", extra={"course_id": cid, "instructor_id": who.user_id})
    return doc  # type: ignore[return-value]


@router.patch("/courses/{course_id}")
def update_course(course_id: int, body: CoursePatch, request: Request, who: Writer) -> dict[str, Any]:
    state = request.app.state
    changes = body.model_dump(exclude_none=True)
    with state.db.begin() as conn:
        _owned_course(conn, course_id, who)
        if changes:
            conn.execute(courses.update().where(courses.c.id == course_id).values(updated_at=_now(), **changes))
        doc = _load_course(conn, course_id)
    state.cache.invalidate()
    return doc  # type: ignore[return-value]


@router.post("/courses/{course_id}/lessons", status_code=201)
def add_lesson(course_id: int, body: LessonIn, request: Request, who: Writer) -> dict[str, Any]:
    state = request.app.state
    with state.db.begin() as conn:
        _owned_course(conn, course_id, who)
        position = body.position
        if position is None:
            last = conn.execute(sa.select(sa.func.max(lessons.c.position))
                                .where(lessons.c.course_id == course_id)).scalar()
            position = (last or 0) + 1
        lid = conn.execute(lessons.insert().values(course_id=course_id, title=body.title, position=position,
                                                   created_at=_now())).inserted_primary_key[0]
        row = conn.execute(sa.select(lessons).where(lessons.c.id == lid)).one()
    state.cache.invalidate()
    return _lesson_doc(row)


@router.patch("/courses/{course_id}/lessons/{lesson_id}")
def update_lesson(course_id: int, lesson_id: int, body: LessonPatch, request: Request,
                  who: Writer) -> dict[str, Any]:
    state = request.app.state
    changes = body.model_dump(exclude_none=True)
    with state.db.begin() as conn:
        _owned_course(conn, course_id, who)
        where = sa.and_(lessons.c.id == lesson_id, lessons.c.course_id == course_id)
        if conn.execute(sa.select(lessons.c.id).where(where)).first() is None:
            raise ApiError(404, "not_found", f"no lesson {lesson_id} in course {course_id}")
        if changes:
            conn.execute(lessons.update().where(where).values(**changes))
        row = conn.execute(sa.select(lessons).where(where)).one()
    state.cache.invalidate()
    return _lesson_doc(row)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env("course")
    def _close(app: FastAPI) -> None:
        app.state.cache.close()

    app = create_service_app(settings, title="course service", migrations=MIGRATIONS, on_shutdown=[_close])
    m = app.state.metrics
    m.counter("courses_created_total", "Courses created.")
    m.counter("course_cache_total", "Catalogue cache look-ups, by result (hit, miss, error).", ("result",))
    ttl = env_int("CACHE_TTL_SECONDS", 60, settings.env, lo=1)
    cache = CatalogueCache.from_url(settings.env.get("REDIS_URL"), ttl,
                                    lambda result: m.inc("course_cache_total", result=result))
    app.state.cache = cache
    if cache.enabled:
        app.state.ready_checks["redis"] = cache.ping
    app.include_router(router)
    return app
