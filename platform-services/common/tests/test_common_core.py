"""Unit tests of course_common: settings, health, version, metrics, faults, errors, logging, migrations."""

from __future__ import annotations

import io
import json
import logging

import pytest
import sqlalchemy as sa
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from course_common import (ApiError, Migration, Principal, Settings, SettingsError, create_service_app, migrate,
                           require_roles)
from course_common.logging import JsonFormatter, SecretMaskFilter
from course_common.testing import bearer, make_settings

router = APIRouter(prefix="/api/demo")
AdminOnly = Annotated[Principal, Depends(require_roles("admin"))]


@router.get("/items/{item_id}")
def get_item(item_id: int) -> dict[str, int]:
    if item_id == 0:
        raise ApiError(404, "not_found", "no item 0")
    if item_id == 13:
        raise RuntimeError("boom: secret-value-should-not-leak")
    return {"id": item_id}


def make_app(tmp_path, **env):
    settings = make_settings("demo", tmp_path, {k.upper(): str(v) for k, v in env.items()})
    app = create_service_app(settings, title="demo")
    app.include_router(router)
    return app


def test_settings_defaults_and_secret_file(tmp_path):
    secret_file = tmp_path / "jwt"
    secret_file.write_text("from-a-file-secret\n")
    s = Settings.from_env("payment", {"JWT_SECRET_FILE": str(secret_file)})
    assert (s.host, s.port, s.jwt_secret) == ("127.0.0.1", 8003, "from-a-file-secret")
    assert s.database_url == "sqlite:///./payment.db"
    assert s.url("COURSE_URL", "course") == "http://127.0.0.1:8002"
    assert "from-a-file-secret" not in repr(s)


@pytest.mark.parametrize("env,needle", [
    ({"FAULT_ERROR_RATE": "1.5"}, "FAULT_ERROR_RATE"),
    ({"FAULT_ERROR_RATE": "lots"}, "FAULT_ERROR_RATE"),
    ({"FAULT_LATENCY_MS": "-1"}, "FAULT_LATENCY_MS"),
    ({"PORT": "http"}, "PORT"),
    ({"JWT_SECRET_FILE": "/nonexistent/secret"}, "JWT_SECRET_FILE"),
])
def test_bad_settings_name_the_variable(env, needle):
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env("user", env)


def test_health_version_and_metrics(tmp_path):
    env = {"APP_VERSION": "1.2.3", "GIT_SHA": "abc123", "BUILD_TIME": "2026-01-01T00:00:00Z"}
    with TestClient(make_app(tmp_path, **env)) as c:
        assert c.get("/health/live").json() == {"status": "alive"}
        ready = c.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
        assert c.get("/version").json() == {"service": "demo", "version": "1.2.3", "git_sha": "abc123",
                                            "build_time": "2026-01-01T00:00:00Z"}
        for i in (1, 2, 3):
            assert c.get(f"/api/demo/items/{i}").status_code == 200
        text = c.get("/metrics").text
    assert ('http_requests_total{method="GET",route="/api/demo/items/{item_id}",service="demo",status="200"} 3.0'
            in text)
    assert 'http_request_duration_seconds_count{method="GET",route="/api/demo/items/{item_id}"' in text


def test_readiness_fails_when_a_dependency_fails(tmp_path):
    app = make_app(tmp_path)

    def broken() -> None:
        raise ConnectionError("down")

    app.state.ready_checks["redis"] = broken
    with TestClient(app) as c:
        r = c.get("/health/ready")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "redis": "failed: ConnectionError"}


def test_errors_are_json_and_internal_errors_do_not_leak(tmp_path):
    with TestClient(make_app(tmp_path), raise_server_exceptions=False) as c:
        assert c.get("/api/demo/items/0").json() == {"error": {"code": "not_found", "message": "no item 0"}}
        bad = c.get("/api/demo/items/abc")
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
        assert c.get("/api/demo/nothing").json()["error"]["code"] == "not_found"
        boom = c.get("/api/demo/items/13")
        assert boom.status_code == 500
        assert "secret-value" not in boom.text and boom.json()["error"]["code"] == "internal_error"


def test_request_id_is_echoed_or_made(tmp_path):
    with TestClient(make_app(tmp_path)) as c:
        assert c.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
        made = c.get("/health/live", headers={"X-Request-ID": "bad id\nwith newline"}).headers["x-request-id"]
        assert len(made) == 32


def count_500s(text: str) -> float:
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and 'status="500"' in line and "/api/demo/items" in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_fault_error_rate_gives_about_that_share_of_500s_and_metrics_show_them(tmp_path):
    with TestClient(make_app(tmp_path, fault_error_rate=0.2)) as c:
        statuses = [c.get("/api/demo/items/1").status_code for _ in range(1000)]
        failures = statuses.count(500)
        assert set(statuses) <= {200, 500}
        assert 150 <= failures <= 250, failures
        # health, metrics and version are never faulted
        assert all(c.get("/health/ready").status_code == 200 for _ in range(50))
        text = c.get("/metrics").text
    assert count_500s(text) == failures
    assert f'faults_injected_total{{kind="error",service="demo"}} {float(failures)}' in text


def test_no_faults_by_default(tmp_path):
    with TestClient(make_app(tmp_path)) as c:
        statuses = [c.get("/api/demo/items/1").status_code for _ in range(300)]
        assert statuses.count(500) == 0 and count_500s(c.get("/metrics").text) == 0


def test_fault_latency_is_added(tmp_path):
    import time
    with TestClient(make_app(tmp_path, fault_latency_ms=120)) as c:
        t0 = time.perf_counter()
        assert c.get("/api/demo/items/1").status_code == 200
        assert time.perf_counter() - t0 >= 0.12
        t0 = time.perf_counter()
        c.get("/health/live")
        assert time.perf_counter() - t0 < 0.12


def test_json_log_lines_mask_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("demo"))
    handler.addFilter(SecretMaskFilter(["s3cr3t-value"]))
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("connecting with %s", "s3cr3t-value", extra={"user_id": 7})
    doc = json.loads(stream.getvalue())
    assert doc["message"] == "connecting with ***" and doc["user_id"] == 7 and doc["service"] == "demo"


def test_tokens_roles(tmp_path):
    app = make_app(tmp_path)

    @app.get("/api/demo/admin-only")
    def admin_only(p: AdminOnly) -> dict[str, int]:
        return {"user": p.user_id}

    with TestClient(app) as c:
        assert c.get("/api/demo/admin-only").status_code == 401
        assert c.get("/api/demo/admin-only", headers=bearer(1, "student")).status_code == 403
        assert c.get("/api/demo/admin-only", headers=bearer(1, "admin")).json() == {"user": 1}


def test_migrations_apply_once_in_order(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    calls = []

    def v1(conn):
        calls.append(1)
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))

    def v2(conn):
        calls.append(2)
        conn.execute(sa.text("ALTER TABLE t ADD COLUMN name VARCHAR(20)"))

    assert migrate(engine, "svc", [Migration(1, "t", v1)]) == [1]
    assert migrate(engine, "svc", [Migration(1, "t", v1), Migration(2, "name", v2)]) == [2]
    assert migrate(engine, "svc", [Migration(1, "t", v1), Migration(2, "name", v2)]) == []
    assert migrate(engine, "other", []) == []
    assert calls == [1, 2]
    with pytest.raises(RuntimeError):
        migrate(engine, "svc", [Migration(2, "b", v2), Migration(1, "a", v1)])


def test_error_series_exist_at_zero_before_the_first_error(tmp_path):
    """A rate() over the 500 series must see a canary's first errors, so the series exist from start-up."""
    with TestClient(make_app(tmp_path), raise_server_exceptions=False) as c:
        text = c.get("/metrics").text
        assert ('http_requests_total{method="GET",route="/api/demo/items/{item_id}",service="demo",status="500"} 0.0'
                in text)
        assert c.get("/api/demo/items/13").status_code == 500
        text = c.get("/metrics").text
    assert ('http_requests_total{method="GET",route="/api/demo/items/{item_id}",service="demo",status="500"} 1.0'
            in text)
