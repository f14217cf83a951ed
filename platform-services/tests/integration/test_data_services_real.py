"""The services against real data servers: migrations and concurrent idempotent payments on MariaDB, the
course cache on Redis, and an e-mail that survives an SMTP outage."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from course_common import ServiceClient, Settings, migrate
from course_common.testing import TEST_JWT_SECRET, bearer

pytestmark = pytest.mark.integration


def settings(service: str, url: str, **extra: str) -> Settings:
    return Settings.from_env(service, {"DATABASE_URL": url, "JWT_SECRET": TEST_JWT_SECRET, **extra})


def test_migrations_are_idempotent_on_mariadb(mariadb) -> None:
    from user_service.schema import MIGRATIONS

    url = mariadb.create_database("migrations_check")
    engine = sa.create_engine(url)
    assert migrate(engine, "user", MIGRATIONS) == [1]
    assert migrate(engine, "user", MIGRATIONS) == []
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("users")
    engine.dispose()


def test_concurrent_payment_retries_charge_once_on_mariadb(mariadb) -> None:
    from payment_service.main import create_app
    from payment_service.schema import charges, payments

    url = mariadb.create_database("payment_concurrency")
    course = ServiceClient("course", httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={"id": 5, "price_cents": 1500, "currency": "EUR"})),
        base_url="http://course.test"))
    app = create_app(settings("payment", url), course_client=course)
    card = {"number": "4242424242424242", "exp_month": 1, "exp_year": 2099, "cvc": "999"}
    with TestClient(app) as client:
        def attempt(_: int) -> httpx.Response:
            return client.post("/api/payment/payments", json={"course_id": 5, "card": card},
                               headers={**bearer(42, "student"), "Idempotency-Key": "mariadb-retry-1"})

        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(attempt, range(24)))
        assert {r.status_code for r in results} == {201}, [r.text for r in results if r.status_code != 201]
        assert len({r.json()["id"] for r in results}) == 1
        with app.state.db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(charges)).scalar_one() == 1
            assert conn.execute(sa.select(sa.func.count()).select_from(payments)).scalar_one() == 1


def test_course_catalogue_cache_on_real_redis(tmp_path: Path, redis_server: str) -> None:
    from course_service.main import create_app

    app = create_app(settings("course", f"sqlite:///{tmp_path / 'c.db'}", REDIS_URL=redis_server))
    with TestClient(app) as client:
        assert client.get("/health/ready").json()["checks"] == {"database": "ok", "redis": "ok"}
        client.post("/api/course/courses", json={"title": "Cached", "price_cents": 100},
                    headers=bearer(3, "instructor"))
        first = client.get("/api/course/courses?q=cached").json()
        second = client.get("/api/course/courses?q=cached").json()
        assert first == second and first["total"] == 1
        client.post("/api/course/courses", json={"title": "Cached again", "price_cents": 100},
                    headers=bearer(3, "instructor"))
        assert client.get("/api/course/courses?q=cached").json()["total"] == 2
        text = client.get("/metrics").text
    assert 'course_cache_total{result="hit",service="course"} 1.0' in text


def test_an_email_survives_an_smtp_outage(tmp_path: Path, smtp_sink) -> None:
    from datetime import timedelta

    from notification_service.main import create_app
    from notification_service.store import SmtpConfig, _now, smtp_send

    from tests.support.servers import free_port

    down_port = free_port()
    app = create_app(settings("notification", f"sqlite:///{tmp_path / 'n.db'}", SMTP_HOST="127.0.0.1",
                              SMTP_PORT=str(down_port)), start_workers=False)
    event = {"event_id": "0f0f0f0f-1111-2222-3333-444455556666", "type": "enrollment.created",
             "enrollment_id": 1, "user_id": 7, "email": "outage@example.com", "course_id": 1,
             "course_title": "Resilience"}
    with TestClient(app) as client:
        assert client.post("/api/notification/events", json=event, headers=bearer(7, "student")).status_code == 202
        sender = app.state.sender
        assert sender.deliver_due() == 0  # nobody listens on down_port: kept, retried later
        sender.send = smtp_send(SmtpConfig(host=smtp_sink.host, port=smtp_sink.port))  # the server is back
        assert sender.deliver_due(now=_now() + timedelta(seconds=10)) == 1
    mail = smtp_sink.wait_for(lambda m: m["To"] == "outage@example.com", timeout=10)
    assert "Resilience" in mail["Subject"]
