"""Unit tests of the course service API (TestClient, temporary SQLite, an in-memory stand-in for Redis)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from course_common.testing import bearer, make_settings
from course_service.cache import CatalogueCache
from course_service.main import create_app

INSTRUCTOR = bearer(10, "instructor")
OTHER_INSTRUCTOR = bearer(11, "instructor")
STUDENT = bearer(20, "student")
ADMIN = bearer(1, "admin")


class DictRedis:
    """The four Redis commands the cache uses, kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value, ex=None):
        self.data[key] = value.encode() if isinstance(value, str) else value

    def incr(self, key):
        self.data[key] = str(int(self.data.get(key, b"0")) + 1).encode()

    def ping(self):
        return True

    def close(self):
        pass


@pytest.fixture()
def client(tmp_path):
    with TestClient(create_app(make_settings("course", tmp_path))) as c:
        yield c


def new_course(client, headers=INSTRUCTOR, **over):
    body = {"title": "Python for Everyone", "description": "Start here", "price_cents": 4900, "currency": "EUR"}
    body.update(over)
    return client.post("/api/course/courses", json=body, headers=headers)


def test_instructor_creates_a_course_and_anyone_browses_it(client):
    r = new_course(client)
    assert r.status_code == 201
    cid = r.json()["id"]
    assert r.json()["instructor_id"] == 10
    listing = client.get("/api/course/courses").json()
    assert listing["total"] == 1 and listing["items"][0]["title"] == "Python for Everyone"
    assert client.get(f"/api/course/courses/{cid}").json()["lessons"] == []


def test_student_cannot_create_a_course(client):
    r = new_course(client, headers=STUDENT)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert new_course(client, headers={}).status_code == 401


def test_instructor_cannot_edit_another_instructors_course_but_admin_can(client):
    cid = new_course(client).json()["id"]
    r = client.patch(f"/api/course/courses/{cid}", json={"price_cents": 1}, headers=OTHER_INSTRUCTOR)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner"
    r = client.post(f"/api/course/courses/{cid}/lessons", json={"title": "x"}, headers=OTHER_INSTRUCTOR)
    assert r.status_code == 403
    r = client.patch(f"/api/course/courses/{cid}", json={"price_cents": 5900}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["price_cents"] == 5900
    r = client.patch(f"/api/course/courses/{cid}", json={"title": "Renamed"}, headers=INSTRUCTOR)
    assert r.json()["title"] == "Renamed" and r.json()["price_cents"] == 5900


def test_lessons_are_added_in_order_and_updated_by_the_owner(client):
    cid = new_course(client).json()["id"]
    a = client.post(f"/api/course/courses/{cid}/lessons", json={"title": "Intro"}, headers=INSTRUCTOR).json()
    b = client.post(f"/api/course/courses/{cid}/lessons", json={"title": "Loops"}, headers=INSTRUCTOR).json()
    assert (a["position"], b["position"]) == (1, 2)
    r = client.patch(f"/api/course/courses/{cid}/lessons/{a['id']}", json={"position": 3}, headers=INSTRUCTOR)
    assert r.status_code == 200
    titles = [x["title"] for x in client.get(f"/api/course/courses/{cid}").json()["lessons"]]
    assert titles == ["Loops", "Intro"]
    assert client.patch(f"/api/course/courses/{cid}/lessons/999", json={"title": "x"},
                        headers=INSTRUCTOR).status_code == 404
    assert client.post("/api/course/courses/999/lessons", json={"title": "x"},
                       headers=INSTRUCTOR).status_code == 404


def test_paging_and_search(client):
    for i in range(5):
        new_course(client, title=f"Course {i}", description="rust" if i % 2 else "go")
    page = client.get("/api/course/courses?page=2&page_size=2").json()
    assert [c["title"] for c in page["items"]] == ["Course 2", "Course 3"] and page["total"] == 5
    found = client.get("/api/course/courses?q=RUST").json()
    assert found["total"] == 2 and {c["title"] for c in found["items"]} == {"Course 1", "Course 3"}
    assert client.get("/api/course/courses?q=100%25").json()["total"] == 0


@pytest.mark.parametrize("query", ["page=0", "page_size=101", "page=x"])
def test_bad_paging_is_a_422(client, query):
    assert client.get(f"/api/course/courses?{query}").status_code == 422


@pytest.mark.parametrize("over", [{"price_cents": -1}, {"currency": "euro"}, {"title": ""}, {"owner": 3}])
def test_bad_course_input_is_a_422(client, over):
    r = new_course(client, **over)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_unknown_course_is_a_404(client):
    assert client.get("/api/course/courses/12345").status_code == 404


def test_catalogue_is_cached_and_writes_invalidate_it(tmp_path):
    app = create_app(make_settings("course", tmp_path))
    with TestClient(app) as client:
        app.state.cache = CatalogueCache(DictRedis(), 60,
                                         lambda r: app.state.metrics.inc("course_cache_total", result=r))
        new_course(client)
        assert client.get("/api/course/courses").json()["total"] == 1
        assert client.get("/api/course/courses").json()["total"] == 1
        new_course(client, title="Second")
        assert client.get("/api/course/courses").json()["total"] == 2  # the write bumped the generation
        text = client.get("/metrics").text
    assert 'course_cache_total{result="hit",service="course"} 1.0' in text
    assert 'course_cache_total{result="miss",service="course"} 2.0' in text
