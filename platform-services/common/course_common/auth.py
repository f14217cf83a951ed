"""JWT issuing and verification (HS256) and role checks as FastAPI dependencies."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import jwt
from fastapi import Request

from .errors import ApiError

ROLES = ("student", "instructor", "admin")
ISSUER = "course-platform"


@dataclass(frozen=True)
class Principal:
    """The caller, as proven by a valid bearer token."""

    user_id: int
    email: str
    role: str
    token: str

    @property
    def authorization(self) -> str:
        """The header to forward when calling another service on the caller's behalf."""
        return f"Bearer {self.token}"


def issue_token(secret: str, user_id: int, email: str, role: str, ttl_seconds: int,
                now: float | None = None) -> str:
    now = time.time() if now is None else now
    claims = {"sub": str(user_id), "email": email, "role": role, "iss": ISSUER,
              "iat": int(now), "exp": int(now + ttl_seconds)}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Principal:
    """Decode and check a token; raise ApiError(401) if it is missing, malformed, forged or expired."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise ApiError(401, "token_expired", "the access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise ApiError(401, "invalid_token", "the access token is invalid") from exc
    role = claims.get("role")
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise ApiError(401, "invalid_token", "the access token is invalid") from exc
    if role not in ROLES:
        raise ApiError(401, "invalid_token", "the access token is invalid")
    return Principal(user_id=user_id, email=str(claims.get("email", "")), role=role, token=token)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "a bearer token is required",)
    return token.strip()


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller (401 otherwise)."""
    return verify_token(request.app.state.settings.jwt_secret, bearer_token(request))


def require_roles(*roles: str) -> Callable[[Request], Principal]:
    """FastAPI dependency factory: the caller, who must hold one of `roles` (403 otherwise)."""
    allowed: Iterable[str] = tuple(roles)

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal.role not in allowed:
            raise ApiError(403, "forbidden", f"this action needs the role {' or '.join(allowed)}")
        return principal

    return dependency
