"""The user journey through the HAProxy edge, on real MariaDB/Redis/RabbitMQ and again on plain SQLite.

register -> log in -> browse -> buy -> enrol -> an e-mail arrives -> read content via a signed link,
with the refusals on the way (a student doing an instructor's work, enrolment without payment, a tampered
link), and the services' /metrics and the edge's exporter counting what the journey did.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.platform import (ADMIN, SERVICES, Platform, platform_env, sqlite_urls, wait_for_metric)
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["mariadb", "sqlite"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    mode = request.param
    workdir = tmp_path_factory.mktemp(f"platform-{mode}")
    ports = {svc: free_port() for svc in SERVICES}
    smtp = request.getfixturevalue("smtp_sink")
    extra: dict[str, dict[str, str]] = {"notification": {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port)}}
    if mode == "mariadb":
        db = request.getfixturevalue("mariadb")
        urls = {svc: db.create_database(f"{svc}_svc") for svc in SERVICES}
        redis_url = request.getfixturevalue("redis_server")
        amqp_url = request.getfixturevalue("rabbitmq")
        extra["course"] = {"REDIS_URL": redis_url}
        extra["enrollment"] = {"AMQP_URL": amqp_url}
        extra["notification"]["AMQP_URL"] = amqp_url
    else:
        urls = sqlite_urls(workdir)
    plat = Platform(workdir, platform_env(workdir, ports, urls, extra), ports)
    plat.mode = mode  # type: ignore[attr-defined]
    try:
        plat.start()
        yield plat
    except BaseException:
        print(plat.logs())
        raise
    finally:
        plat.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(edge: httpx.Client, email: str, password: str) -> str:
    r = edge.post("/api/user/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def metric_value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_user_journey_through_the_edge(platform: Platform, smtp_sink) -> None:
    run = uuid.uuid4().hex[:8]
    edge = httpx.Client(base_url=platform.edge.url, timeout=15)  # type: ignore[union-attr]

    # an instructor: registers, is promoted by the admin, logs in again for a token with the new role
    r = edge.post("/api/user/register", json={"email": f"teacher-{run}@example.com", "password": "teach-me-123",
                                              "name": "Teacher"})
    assert r.status_code == 201, r.text
    teacher_id = r.json()["id"]
    admin = login(edge, *ADMIN)
    r = edge.put(f"/api/user/users/{teacher_id}/role", json={"role": "instructor"}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["role"] == "instructor"
    teacher = login(edge, f"teacher-{run}@example.com", "teach-me-123")
    course = edge.post("/api/course/courses", headers=auth(teacher), json={
        "title": f"Release Engineering {run}", "description": "Ship safely", "price_cents": 4900}).json()
    lesson = edge.post(f"/api/course/courses/{course['id']}/lessons", headers=auth(teacher),
                       json={"title": "Blue and green"}).json()
    r = edge.put(f"/api/content/courses/{course['id']}/lessons/{lesson['id']}", headers=auth(teacher),
                 json={"body": "# Blue-green\nTwo colours, one switch."})
    assert r.status_code == 200, r.text

    # the student: register -> log in
    email = f"student-{run}@example.com"
    r = edge.post("/api/user/register", json={"email": email, "password": "learn-me-123", "name": "Student"})
    assert r.status_code == 201, r.text
    student = login(edge, email, "learn-me-123")
    assert edge.get("/api/user/me", headers=auth(student)).json()["role"] == "student"

    # a student is refused an instructor's actions
    r = edge.post("/api/course/courses", headers=auth(student), json={"title": "Mine", "price_cents": 1})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = edge.put(f"/api/content/courses/{course['id']}/lessons/{lesson['id']}", headers=auth(student),
                 json={"body": "defaced"})
    assert r.status_code == 403
    r = edge.put(f"/api/user/users/{teacher_id}/role", json={"role": "student"}, headers=auth(student))
    assert r.status_code == 403

    # browse: search the catalogue (twice: the second answer may come from the Redis cache), open the course
    for _ in range(2):
        found = edge.get("/api/course/courses", params={"q": run, "page_size": 5}).json()
        assert [c["id"] for c in found["items"]] == [course["id"]]
    detail = edge.get(f"/api/course/courses/{course['id']}").json()
    assert detail["lessons"][0]["title"] == "Blue and green"

    # no payment yet: no enrolment, no content
    r = edge.post("/api/enrollment/enrollments", headers=auth(student),
                  json={"course_id": course["id"], "payment_id": 999999})
    assert r.status_code == 402
    r = edge.post(f"/api/content/courses/{course['id']}/lessons/{lesson['id']}/link", headers=auth(student))
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_enrolled"

    # buy (a declined card first, then a good one, retried with the same key)
    declined = edge.post("/api/payment/payments", headers={**auth(student), "Idempotency-Key": f"dec-{run}"},
                         json={"course_id": course["id"], "card": {"number": "4000000000000002", "exp_month": 12,
                                                                   "exp_year": 2099, "cvc": "123"}})
    assert declined.status_code == 402
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
    key = f"buy-{run}"
    paid = edge.post("/api/payment/payments", headers={**auth(student), "Idempotency-Key": key},
                     json={"course_id": course["id"], "card": card})
    assert paid.status_code == 201 and paid.json()["amount_cents"] == 4900, paid.text
    retry = edge.post("/api/payment/payments", headers={**auth(student), "Idempotency-Key": key},
                      json={"course_id": course["id"], "card": card})
    assert retry.json()["id"] == paid.json()["id"] and retry.headers["Idempotent-Replayed"] == "true"
    r = edge.post("/api/enrollment/enrollments", headers=auth(student),
                  json={"course_id": course["id"], "payment_id": declined.json()["id"]})
    assert r.status_code == 402 and r.json()["error"]["code"] == "payment_not_succeeded"

    # enrol
    r = edge.post("/api/enrollment/enrollments", headers=auth(student),
                  json={"course_id": course["id"], "payment_id": paid.json()["id"]})
    assert r.status_code == 201, r.text

    # an e-mail arrives (RabbitMQ -> notification -> SMTP, or straight HTTP in SQLite mode)
    mail = smtp_sink.wait_for(lambda m: m["To"] == email, timeout=30)
    assert course["title"] in mail["Subject"]

    # read the content through a signed link; a tampered link is refused
    link = edge.post(f"/api/content/courses/{course['id']}/lessons/{lesson['id']}/link", headers=auth(student))
    assert link.status_code == 200, link.text
    body = edge.get(link.json()["url"])
    assert body.status_code == 200 and body.text == "# Blue-green\nTwo colours, one switch."
    tampered = re.sub(r"u=\d+", f"u={teacher_id}", link.json()["url"])
    assert edge.get(tampered).status_code == 403

    # bad input is a 4xx with a JSON error, through the edge too
    r = edge.post("/api/payment/payments", headers={**auth(student), "Idempotency-Key": f"bad-{run}"},
                  content=b"{not json", )
    assert 400 <= r.status_code < 500
    assert edge.get("/api/nowhere/at-all").json()["error"]["code"] == "no_route"

    # /metrics counts what the journey did
    assert metric_value(platform.metrics("user"), "registrations_total") >= 2
    assert metric_value(platform.metrics("user"), "http_requests_total", route="/api/user/register",
                        status="201") >= 2
    pay_metrics = platform.metrics("payment")
    assert metric_value(pay_metrics, "payments_total", status="succeeded") >= 1
    assert metric_value(pay_metrics, "payments_total", status="declined") >= 1
    assert metric_value(pay_metrics, "payment_replays_total") >= 1
    assert metric_value(platform.metrics("enrollment"), "enrollments_total") >= 1
    assert metric_value(platform.metrics("course"), "http_requests_total", route="/api/course/courses",
                        method="POST", status="403") >= 1
    wait_for_metric(lambda: platform.metrics("notification"), 'emails_total{outcome="sent"')
    assert metric_value(platform.metrics("content"), "content_reads_total", outcome="served") >= 1
    assert metric_value(platform.metrics("content"), "content_reads_total", outcome="invalid_signature") >= 1
    if platform.mode == "mariadb":  # type: ignore[attr-defined]
        assert metric_value(platform.metrics("course"), "course_cache_total", result="hit") >= 1
        assert metric_value(platform.metrics("enrollment"), "events_published_total", transport="amqp",
                            outcome="published") >= 1
        assert metric_value(platform.metrics("notification"), "events_received_total", transport="amqp") >= 1
    else:
        assert metric_value(platform.metrics("enrollment"), "events_published_total", transport="http",
                            outcome="published") >= 1
    exporter = httpx.get(f"http://127.0.0.1:{platform.edge.stats_port}/metrics", timeout=5).text  # type: ignore
    assert metric_value(exporter, "haproxy_backend_http_responses_total", proxy="be_payment", code="2xx") >= 1
    assert metric_value(exporter, "haproxy_backend_http_responses_total", proxy="be_course", code="4xx") >= 1


def test_every_service_reports_health_and_version(platform: Platform) -> None:
    for svc in SERVICES:
        ready = httpx.get(platform.url(svc) + "/health/ready", timeout=5).json()
        assert ready["status"] == "ready", (svc, ready)
        version = httpx.get(platform.url(svc) + "/version", timeout=5).json()
        assert version == {"service": svc, "version": "9.9.9-test", "git_sha": "0123456789abcdef",
                           "build_time": "2026-01-01T00:00:00Z"}
    if platform.mode == "mariadb":  # type: ignore[attr-defined]
        assert set(httpx.get(platform.url("course") + "/health/ready").json()["checks"]) == {"database", "redis"}
        assert "amqp" in httpx.get(platform.url("notification") + "/health/ready").json()["checks"]


def test_logs_are_json_with_request_ids_and_no_secrets(platform: Platform) -> None:
    import json

    from tests.support.platform import JWT_SECRET, SIGNING_KEY

    for svc in SERVICES:
        text = platform.log(svc).read_text()
        assert JWT_SECRET not in text and SIGNING_KEY not in text and ADMIN[1] not in text
        assert "learn-me-123" not in text and "4242424242424242" not in text
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        requests = [doc for doc in lines if doc.get("message") == "request"]
        assert requests, f"{svc}: no access log lines"
        assert all(len(doc["request_id"]) > 8 for doc in requests)
