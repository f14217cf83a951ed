"""The platform's user-journey smoke test through the edge: register, log in, browse, and a student refused."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class JourneyStep:
    name: str
    ok: bool
    detail: str


@dataclass
class JourneyResult:
    edge_url: str
    steps: list[JourneyStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"edge_url": self.edge_url, "ok": self.ok, "steps": [s.__dict__ for s in self.steps]}


def _call(
    base: str, method: str, path: str, body: Any = None, token: str | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the edge, loopback
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, raw.decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def run_journey(edge_url: str) -> JourneyResult:
    """Steps stop at the first failure; each says what was expected and what came back."""
    result = JourneyResult(edge_url)
    run = uuid.uuid4().hex[:8]
    email, password = f"smoke-{run}@example.com", "smoke-test-123"

    def step(name: str, expect: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        status, payload = _call(edge_url, method, path, body, token)
        ok = status == expect
        result.steps.append(JourneyStep(name, ok, f"{method} {path}: {status} (expected {expect})"))
        if not ok:
            raise _Stop()
        return payload

    try:
        step(
            "register a student",
            201,
            "POST",
            "/api/user/register",
            {"email": email, "password": password, "name": "Smoke"},
        )
        token = step("log in", 200, "POST", "/api/user/login", {"email": email, "password": password})[
            "access_token"
        ]
        me = step("who am I", 200, "GET", "/api/user/me", token=token)
        result.steps.append(JourneyStep("role is student", me.get("role") == "student", f"role={me.get('role')}"))
        step("browse the catalogue", 200, "GET", "/api/course/courses?page_size=5")
        step(
            "a student may not create a course",
            403,
            "POST",
            "/api/course/courses",
            {"title": "Mine", "price_cents": 1},
            token=token,
        )
    except _Stop:
        pass
    return result


class _Stop(Exception):
    pass
