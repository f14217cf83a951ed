"""The platform's user-journey smoke test through the edge: register, log in, browse, and a student refused
over the API; then, where a browser is available, the storefront's journey in Chromium (browse → register →
log in → buy → enrol → read the lesson; a student refused the instructor's page; no console errors)."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coursectl.errors import CoursectlError, PreconditionError

if TYPE_CHECKING:
    from coursectl.ports import BrowserJourney


@dataclass
class JourneyStep:
    name: str
    ok: bool
    detail: str
    skipped: bool = False


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


def browser_plan(config: Any, root: Path, target: str) -> tuple[Path | None, str]:
    """``(journey script, "")`` when the browser journey can run, else ``(None, why not)``.

    With ``journey.browser: always`` a missing piece is a PreconditionError (exit 4) instead.
    """
    jc = config.journey
    if jc.browser == "never":
        return None, "journey.browser is 'never'"
    problems = []
    script = None
    svc = config.services.get(jc.service)
    if svc is None:
        problems.append(f"no service {jc.service!r} in the configuration")
    else:
        folder = (root / svc.path).resolve()
        script = folder / "e2e" / "journey.mjs"
        if not script.is_file():
            problems.append(f"{script} does not exist")
        if not (folder / "node_modules" / "playwright-core").is_dir():
            problems.append(f"the npm packages of {folder} are not installed (npm ci)")
    if not Path(jc.chromium).exists():
        problems.append(f"Chromium is not installed at {jc.chromium} (apt-get install chromium)")
    if shutil.which("node") is None:
        problems.append("Node.js is not installed (apt-get install nodejs)")
    if target == "process":
        problems.append("the process target runs stand-ins, not the storefront")
    if not problems:
        return script, ""
    if jc.browser == "always":
        raise PreconditionError("the browser journey cannot run: " + "; ".join(problems))
    return None, "; ".join(problems)


def journey_for(
    config: Any, root: Path, target: str, *, state_dir: Path, artifacts: Path, browser: BrowserJourney
) -> Callable[[str], JourneyResult]:
    """The release's journey: the API steps, then the browser journey (run by ``browser``) when it can run (or
    a step saying why it was skipped, never a silent pass)."""
    script, why_not = browser_plan(config, root, target)
    jc = config.journey

    def journey(edge_url: str) -> JourneyResult:
        result = run_journey(edge_url)
        if not result.ok:
            return result
        if script is None:
            result.steps.append(JourneyStep("browser journey", True, f"skipped: {why_not}", skipped=True))
            return result
        admin = None
        if jc.admin_email and jc.admin_password is not None:
            admin = (jc.admin_email, jc.admin_password.resolve(secrets_file=state_dir / "secrets.env"))
        try:
            steps, summary = browser(
                script, edge_url, chromium=jc.chromium, artifacts=artifacts, admin=admin, timeout=jc.timeout
            )
        except CoursectlError as exc:
            result.steps.append(JourneyStep("browser journey", False, exc.message))
            return result
        for step in steps:
            name, ok, detail = f"browser: {step.get('step')}", bool(step.get("ok")), str(step.get("detail"))
            result.steps.append(JourneyStep(name, ok, detail))
        if not steps or not summary.get("ok"):
            failed = ", ".join(map(str, summary.get("failed") or [])) or "no step ran"
            detail = f"failed: {failed} (screenshots in {artifacts})"
            result.steps.append(JourneyStep("browser journey", False, detail))
        return result

    return journey
