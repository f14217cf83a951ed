"""The user service's HTTP API: register, login, me, list users, change a user's role."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Annotated, Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from course_common import (ApiError, Principal, Settings, create_service_app, current_principal, env_secret,
                           issue_token, require_roles)

from .schema import MIGRATIONS, users

log = logging.getLogger(__name__)
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=8, max_length=128)
    name: str = Field(min_length=1, max_length=200)

    @field_validator("email")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    password: str = Field(max_length=128)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["student", "instructor", "admin"]


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _out(row: sa.Row) -> UserOut:
    return UserOut(id=row.id, email=row.email, name=row.name, role=row.role)


router = APIRouter(prefix="/api/user")


@router.post("/register", status_code=201)
def register(body: RegisterIn, request: Request) -> UserOut:
    state = request.app.state
    pw_hash = state.hasher.hash(body.password)
    try:
        with state.db.begin() as conn:
            new_id = conn.execute(users.insert().values(
                email=body.email, name=body.name, password_hash=pw_hash, role="student",
                created_at=_now())).inserted_primary_key[0]
    except sa.exc.IntegrityError as exc:
        raise ApiError(409, "email_taken", "an account with this e-mail already exists") from exc
    state.metrics.inc("registrations_total")
    log.info("user registered", extra={"user_id": new_id})
    return UserOut(id=new_id, email=body.email, name=body.name, role="student")


@router.post("/login")
def login(body: LoginIn, request: Request) -> dict[str, object]:
    state = request.app.state
    settings: Settings = state.settings
    with state.db.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.email == body.email.strip().lower())).first()
    ok = False
    if row is not None:
        try:
            ok = state.hasher.verify(row.password_hash, body.password)
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        state.hasher.hash(body.password)  # same work either way: no user enumeration by timing
    if not ok or row is None:
        state.metrics.inc("logins_total", outcome="failed")
        raise ApiError(401, "invalid_credentials", "wrong e-mail or password")
    state.metrics.inc("logins_total", outcome="succeeded")
    token = issue_token(settings.jwt_secret, row.id, row.email, row.role, settings.jwt_ttl_seconds)
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.jwt_ttl_seconds,
            "user": _out(row).model_dump()}


@router.get("/me")
def me(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> UserOut:
    with request.app.state.db.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == principal.user_id)).first()
    if row is None:
        raise ApiError(404, "not_found", "this account no longer exists")
    return _out(row)


@router.get("/users")
def list_users(request: Request, _: Annotated[Principal, Depends(require_roles("admin"))],
               page: Annotated[int, Query(ge=1, le=100000)] = 1,
               page_size: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, object]:
    with request.app.state.db.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
        rows = conn.execute(sa.select(users).order_by(users.c.id)
                            .limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": [_out(r).model_dump() for r in rows], "page": page, "page_size": page_size, "total": total}


@router.put("/users/{user_id}/role")
def change_role(user_id: int, body: RoleIn, request: Request,
                admin: Annotated[Principal, Depends(require_roles("admin"))]) -> UserOut:
    if user_id == admin.user_id and body.role != "admin":
        raise ApiError(409, "self_demotion", "an admin cannot remove their own admin role")
    with request.app.state.db.begin() as conn:
        found = conn.execute(users.update().where(users.c.id == user_id).values(role=body.role)).rowcount
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    if not found or row is None:
        raise ApiError(404, "not_found", f"no user {user_id}")
    request.app.state.metrics.inc("role_changes_total", role=body.role)
    log.info("role changed", extra={"user_id": user_id, "role": body.role, "by": admin.user_id})
    return _out(row)


def _bootstrap_admin(app: FastAPI) -> None:
    """Create the admin named by ADMIN_EMAIL / ADMIN_PASSWORD(_FILE) if no such account exists."""
    settings: Settings = app.state.settings
    email = (settings.env.get("ADMIN_EMAIL") or "").strip().lower()
    password = env_secret("ADMIN_PASSWORD", settings.env)
    if not email or not password:
        return
    with app.state.db.begin() as conn:
        exists = conn.execute(sa.select(users.c.id).where(users.c.email == email)).first()
        if exists is None:
            try:
                conn.execute(users.insert().values(email=email, name="Administrator", role="admin",
                                                   password_hash=app.state.hasher.hash(password),
                                                   created_at=_now()))
                log.info("bootstrap admin created")
            except sa.exc.IntegrityError:  # another replica created it first
                pass


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env("user")
    app = create_service_app(settings, title="user service", migrations=MIGRATIONS,
                             on_startup=[_bootstrap_admin])
    app.state.hasher = PasswordHasher()
    m = app.state.metrics
    m.counter("registrations_total", "Accounts registered.")
    m.counter("logins_total", "Login attempts, by outcome.", ("outcome",))
    m.counter("role_changes_total", "Role changes made by admins, by new role.", ("role",))
    app.include_router(router)
    return app
