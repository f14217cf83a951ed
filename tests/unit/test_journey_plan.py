"""When the release's journey runs the storefront's browser journey, and how its steps join the API steps."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from coursectl.api import journey as jm
from coursectl.config import load_config
from coursectl.errors import PreconditionError

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, browser: str = "auto", chromium: str = "/bin/sh") -> Any:
    web = tmp_path / "web"
    (web / "e2e").mkdir(parents=True, exist_ok=True)
    (web / "e2e" / "journey.mjs").write_text("// journey\n")
    (web / "node_modules" / "playwright-core").mkdir(parents=True, exist_ok=True)
    (tmp_path / "coursectl.yaml").write_text(
        "project: t\nservices: {storefront: {path: web, port: 8007, route: /}}\n"
        "registry: {url: '127.0.0.1:5000'}\nenvironments: {local: {target: docker}}\n"
        f"journey: {{browser: {browser}, chromium: {chromium}}}\n"
    )
    return load_config(tmp_path / "coursectl.yaml", "local").config


@pytest.fixture(autouse=True)
def _node(monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(jm.shutil, "which", lambda name: "/usr/bin/node" if name == "node" else real(name))


def test_runs_when_every_piece_is_there(tmp_path: Path) -> None:
    script, why = jm.browser_plan(_config(tmp_path), tmp_path, "docker")
    assert script == (tmp_path / "web" / "e2e" / "journey.mjs").resolve() and why == ""


def test_auto_skips_and_says_why(tmp_path: Path) -> None:
    config = _config(tmp_path, chromium="/nowhere/chromium")
    shutil.rmtree(tmp_path / "web" / "node_modules")
    script, why = jm.browser_plan(config, tmp_path, "process")
    assert script is None
    assert "Chromium is not installed at /nowhere/chromium" in why
    assert "npm packages" in why and "process target runs stand-ins" in why


def test_always_makes_a_missing_piece_an_error_and_never_never_runs(tmp_path: Path) -> None:
    with pytest.raises(PreconditionError, match="Chromium is not installed"):
        jm.browser_plan(_config(tmp_path, "always", "/nowhere/chromium"), tmp_path, "docker")
    assert jm.browser_plan(_config(tmp_path, "never"), tmp_path, "docker") == (None, "journey.browser is 'never'")


def test_a_skipped_browser_journey_is_a_step_that_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api_ok = jm.JourneyResult("http://edge", [jm.JourneyStep("browse", True, "200")])
    monkeypatch.setattr(jm, "run_journey", lambda url: api_ok)
    def no_browser(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the browser journey must not run when journey.browser is 'never'")

    journey = jm.journey_for(_config(tmp_path, "never"), tmp_path, "docker", state_dir=tmp_path,
                             artifacts=tmp_path / "a", browser=no_browser)  # fmt: skip
    result = journey("http://edge")
    assert result.ok and result.steps[-1].skipped and "never" in result.steps[-1].detail


def test_browser_steps_join_the_api_steps_and_a_failure_fails_the_journey(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jm, "run_journey", lambda url: jm.JourneyResult(url, [jm.JourneyStep("browse", True, "")]))
    seen: dict[str, Any] = {}

    def fake(script: Path, base_url: str, **kw: Any) -> Any:
        seen.update(kw, base_url=base_url)
        return ([{"step": "register", "ok": True, "detail": ""}, {"step": "read the lesson", "ok": False,
                 "detail": "empty"}], {"ok": False, "failed": ["read the lesson"]})  # fmt: skip

    result = jm.journey_for(
        _config(tmp_path), tmp_path, "docker", state_dir=tmp_path, artifacts=tmp_path / "a", browser=fake
    )("http://edge:1")
    assert [s.name for s in result.steps] == ["browse", "browser: register", "browser: read the lesson",
                                              "browser journey"]  # fmt: skip
    assert not result.ok and "read the lesson" in result.steps[-1].detail
    assert seen["base_url"] == "http://edge:1" and seen["admin"] is None and seen["chromium"] == "/bin/sh"


def test_the_shipped_local_environment_gives_the_journey_the_sandbox_admin() -> None:
    local = load_config(REPO / "coursectl.yaml", "local").config
    assert local.journey.admin_email == local.services["user"].env["ADMIN_EMAIL"]
    assert local.journey.admin_password.env == local.services["user"].secrets["ADMIN_PASSWORD"].env  # type: ignore[union-attr]


def test_generated_secret_is_kept(tmp_path: Path) -> None:
    from coursectl.sandbox.credentials import ensure_secret, read_secrets

    (tmp_path / "secrets.env").write_text("OTHER=1\n")
    first, new = ensure_secret(tmp_path, "PLATFORM_ADMIN_PASSWORD")
    again, new_again = ensure_secret(tmp_path, "PLATFORM_ADMIN_PASSWORD")
    assert new and not new_again and first == again and len(first) >= 24
    assert read_secrets(tmp_path) == {"OTHER": "1", "PLATFORM_ADMIN_PASSWORD": first}
    assert (tmp_path / "secrets.env").stat().st_mode & 0o077 == 0


def test_a_slot_gets_its_services_secrets_from_the_state_directory(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from coursectl.api.rollout import slot_env
    from coursectl.errors import AuthError
    from coursectl.wiring import rollout_context

    monkeypatch.delenv("SECRET_X", raising=False)
    (tmp_path / "coursectl.yaml").write_text(
        "project: t\nservices: {user: {path: u, port: 8001, env: {A: b},\n"
        "                        secrets: {ADMIN_PASSWORD: {env: SECRET_X}}}}\n"
        "registry: {url: '127.0.0.1:5000'}\nenvironments: {local: {target: docker}}\n"
    )
    ctx = rollout_context(load_config(tmp_path / "coursectl.yaml", "local"), None, tmp_path)
    with pytest.raises(AuthError, match="SECRET_X"):
        slot_env(ctx, "user")
    (tmp_path / "secrets.env").write_text("SECRET_X=s3cr3t\n")
    assert slot_env(ctx, "user") == {"USER_URL": "http://127.0.0.1:8080", "A": "b", "ADMIN_PASSWORD": "s3cr3t"}
