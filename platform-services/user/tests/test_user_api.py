"""Unit tests of the user service API (TestClient, temporary SQLite)."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi.testclient import TestClient

from course_common.auth import verify_token
from course_common.testing import TEST_JWT_SECRET, bearer, make_settings
from user_service.main import create_app


@pytest.fixture()
def client(tmp_path):
    settings = make_settings("user", tmp_path, {"ADMIN_EMAIL": "root@example.com",
                                                "ADMIN_PASSWORD": "admin-password-1"})
    with TestClient(create_app(settings)) as c:
        yield c


def register(client, email="ann@example.com", password="correct horse", name="Ann"):
    return client.post("/api/user/register", json={"email": email, "password": password, "name": name})


def login(client, email, password):
    r = client.post("/api/user/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_register_then_login_issues_a_valid_student_token(client):
    r = register(client, email="Ann@Example.com")
    assert r.status_code == 201
    assert r.json()["role"] == "student" and r.json()["email"] == "ann@example.com"
    token = login(client, "ann@example.com", "correct horse")
    principal = verify_token(TEST_JWT_SECRET, token)
    assert principal.role == "student" and principal.email == "ann@example.com"
    me = client.get("/api/user/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "Ann"


def test_password_is_stored_hashed_with_argon2(client):
    register(client)
    import sqlalchemy as sa
    from user_service.schema import users
    with client.app.state.db.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalars().all()
    assert all(h.startswith("$argon2") for h in stored)
    assert not any("correct horse" in h for h in stored)


def test_duplicate_email_is_refused(client):
    assert register(client).status_code == 201
    r = register(client, email="ANN@example.com")
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize("body", [
    {"email": "not-an-email", "password": "long enough", "name": "X"},
    {"email": "a@example.com", "password": "short", "name": "X"},
    {"email": "a@example.com", "password": "long enough", "name": ""},
    {"email": "a@example.com", "password": "long enough", "name": "X", "role": "admin"},
    {},
])
def test_bad_registration_input_is_a_422_with_a_json_error(client, body):
    r = client.post("/api/user/register", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


def test_malformed_json_is_a_4xx_not_a_500(client):
    r = client.post("/api/user/register", content=b"{nope", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_wrong_password_and_unknown_user_are_refused_alike(client):
    register(client)
    a = client.post("/api/user/login", json={"email": "ann@example.com", "password": "wrong password"})
    b = client.post("/api/user/login", json={"email": "bob@example.com", "password": "whatever1"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


def test_me_needs_a_valid_token(client):
    assert client.get("/api/user/me").status_code == 401
    assert client.get("/api/user/me", headers={"Authorization": "Bearer junk"}).status_code == 401
    forged = jwt.encode({"sub": "1", "role": "admin", "iss": "course-platform", "iat": int(time.time()),
                         "exp": int(time.time()) + 60}, "another-secret-another-secret-xx", algorithm="HS256")
    r = client.get("/api/user/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    expired = bearer(1, "student", ttl=-10)
    r = client.get("/api/user/me", headers=expired)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"


def test_admin_changes_roles_and_others_cannot(client):
    uid = register(client).json()["id"]
    admin = login(client, "root@example.com", "admin-password-1")
    student = login(client, "ann@example.com", "correct horse")
    refused = client.put(f"/api/user/users/{uid}/role", json={"role": "instructor"},
                         headers={"Authorization": f"Bearer {student}"})
    assert refused.status_code == 403
    instructor_token = bearer(99, "instructor")
    assert client.put(f"/api/user/users/{uid}/role", json={"role": "admin"},
                      headers=instructor_token).status_code == 403
    r = client.put(f"/api/user/users/{uid}/role", json={"role": "instructor"},
                   headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200 and r.json()["role"] == "instructor"
    fresh = login(client, "ann@example.com", "correct horse")
    assert verify_token(TEST_JWT_SECRET, fresh).role == "instructor"
    bad = client.put(f"/api/user/users/{uid}/role", json={"role": "superuser"},
                     headers={"Authorization": f"Bearer {admin}"})
    assert bad.status_code == 422
    missing = client.put("/api/user/users/9999/role", json={"role": "student"},
                         headers={"Authorization": f"Bearer {admin}"})
    assert missing.status_code == 404


def test_admin_lists_users_with_paging_and_students_cannot(client):
    for i in range(3):
        register(client, email=f"u{i}@example.com")
    admin = {"Authorization": f"Bearer {login(client, 'root@example.com', 'admin-password-1')}"}
    page = client.get("/api/user/users?page=1&page_size=2", headers=admin).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    assert client.get("/api/user/users", headers=bearer(2, "student")).status_code == 403
    assert client.get("/api/user/users?page_size=1000", headers=admin).status_code == 422


def test_metrics_count_registrations_and_requests_by_route_template(client):
    register(client)
    register(client)  # duplicate -> 409
    text = client.get("/metrics").text
    assert 'registrations_total{service="user"} 1.0' in text
    assert ('http_requests_total{method="POST",route="/api/user/register",service="user",status="409"} 1.0'
            in text)
