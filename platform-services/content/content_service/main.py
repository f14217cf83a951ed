"""The content service's HTTP API: instructors store lesson bodies; enrolled users get signed links to read them."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from course_common import (ApiError, Principal, ServiceClient, Settings, create_service_app, current_principal,
                           env_secret, require_roles)
from course_common.settings import env_int

from .schema import MIGRATIONS, lesson_contents
from .signing import LinkRefused, LinkSigner

log = logging.getLogger(__name__)
DEV_SIGNING_KEY = "insecure-development-content-signing-key"


class ContentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=200_000)
    content_type: Literal["text/markdown", "text/plain", "text/html"] = "text/markdown"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


router = APIRouter(prefix="/api/content")
Caller = Annotated[Principal, Depends(current_principal)]
Writer = Annotated[Principal, Depends(require_roles("instructor", "admin"))]


def _course(request: Request, course_id: int, lesson_id: int) -> dict[str, Any]:
    r = request.app.state.course_client.request("GET", f"/api/course/courses/{course_id}")
    if r.status_code == 404:
        raise ApiError(404, "not_found", f"no course {course_id}")
    if r.status_code != 200:
        raise ApiError(503, "dependency_unavailable", "the course service did not answer")
    course = r.json()
    if lesson_id not in {lesson["id"] for lesson in course.get("lessons", [])}:
        raise ApiError(404, "not_found", f"no lesson {lesson_id} in course {course_id}")
    return course


def _enrolled(request: Request, who: Principal, course_id: int) -> bool:
    r = request.app.state.enrollment_client.request(
        "GET", "/api/enrollment/enrollments/check", params={"course_id": course_id},
        authorization=who.authorization)
    if r.status_code != 200:
        raise ApiError(503, "dependency_unavailable", "the enrollment service did not answer")
    return bool(r.json().get("enrolled"))


@router.put("/courses/{course_id}/lessons/{lesson_id}")
def put_content(course_id: int, lesson_id: int, body: ContentIn, request: Request, who: Writer) -> dict[str, Any]:
    course = _course(request, course_id, lesson_id)
    if who.role != "admin" and course.get("instructor_id") != who.user_id:
        raise ApiError(403, "not_owner", "only the course's instructor (or an admin) may change its content")
    state = request.app.state
    values = {"content_type": body.content_type, "body": body.body, "updated_by": who.user_id,
              "updated_at": _now()}
    key = sa.and_(lesson_contents.c.course_id == course_id, lesson_contents.c.lesson_id == lesson_id)
    with state.db.begin() as conn:
        if conn.execute(lesson_contents.update().where(key).values(**values)).rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(lesson_contents.insert().values(course_id=course_id, lesson_id=lesson_id,
                                                                 **values))
            except sa.exc.IntegrityError:  # a concurrent first write: ours becomes an update
                conn.execute(lesson_contents.update().where(key).values(**values))
    return {"course_id": course_id, "lesson_id": lesson_id, "content_type": body.content_type,
            "length": len(body.body)}


@router.post("/courses/{course_id}/lessons/{lesson_id}/link")
def make_link(course_id: int, lesson_id: int, request: Request, who: Caller) -> dict[str, Any]:
    state = request.app.state
    with state.db.connect() as conn:
        exists = conn.execute(sa.select(lesson_contents.c.lesson_id).where(
            lesson_contents.c.course_id == course_id, lesson_contents.c.lesson_id == lesson_id)).first()
    if exists is None:
        raise ApiError(404, "not_found", f"no content for lesson {lesson_id} of course {course_id}")
    allowed = who.role == "admin"
    if not allowed and who.role == "instructor":
        allowed = _course(request, course_id, lesson_id).get("instructor_id") == who.user_id
    if not allowed:
        allowed = _enrolled(request, who, course_id)
    if not allowed:
        state.metrics.inc("content_links_total", outcome="refused")
        raise ApiError(403, "not_enrolled", "enrol in this course to read its lessons")
    signer: LinkSigner = state.signer
    expires, sig = signer.sign(course_id, lesson_id, who.user_id)
    state.metrics.inc("content_links_total", outcome="issued")
    url = f"/api/content/signed/{course_id}/{lesson_id}?u={who.user_id}&exp={expires}&sig={sig}"
    return {"url": url, "expires_at": expires}


@router.get("/signed/{course_id}/{lesson_id}")
def read_signed(course_id: int, lesson_id: int, request: Request,
                u: Annotated[int, Query(ge=1)], exp: Annotated[int, Query(ge=0)],
                sig: Annotated[str, Query(min_length=1, max_length=100)]) -> Response:
    state = request.app.state
    try:
        state.signer.verify(course_id, lesson_id, u, exp, sig)
    except LinkRefused as refused:
        state.metrics.inc("content_reads_total", outcome=refused.reason)
        if refused.reason == "link_expired":
            raise ApiError(410, "link_expired", "this link has expired; ask for a new one") from refused
        raise ApiError(403, "invalid_signature", "this link is not valid") from refused
    with state.db.connect() as conn:
        row = conn.execute(sa.select(lesson_contents).where(
            lesson_contents.c.course_id == course_id, lesson_contents.c.lesson_id == lesson_id)).first()
    if row is None:
        raise ApiError(404, "not_found", "this lesson has no content any more")
    state.metrics.inc("content_reads_total", outcome="served")
    return Response(row.body, media_type=row.content_type,
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


def create_app(settings: Settings | None = None, *, course_client: ServiceClient | None = None,
               enrollment_client: ServiceClient | None = None, signer: LinkSigner | None = None) -> FastAPI:
    settings = settings or Settings.from_env("content")
    key = env_secret("CONTENT_SIGNING_KEY", settings.env) or DEV_SIGNING_KEY

    def _close(app: FastAPI) -> None:
        app.state.course_client.close()
        app.state.enrollment_client.close()

    app = create_service_app(settings, title="content service", migrations=MIGRATIONS, on_shutdown=[_close])
    app.state.signer = signer or LinkSigner(key.encode(), env_int("CONTENT_LINK_TTL_SECONDS", 300, settings.env,
                                                                  lo=1))
    app.state.course_client = course_client or ServiceClient.for_url("course", settings.url("COURSE_URL", "course"))
    app.state.enrollment_client = enrollment_client or ServiceClient.for_url(
        "enrollment", settings.url("ENROLLMENT_URL", "enrollment"))
    m = app.state.metrics
    m.counter("content_links_total", "Signed links asked for, by outcome (issued, refused).", ("outcome",))
    m.counter("content_reads_total", "Signed-link reads, by outcome (served, invalid_signature, link_expired).",
              ("outcome",))
    if key == DEV_SIGNING_KEY:
        log.warning("CONTENT_SIGNING_KEY is not set: using an insecure development key")
    app.include_router(router)
    return app
