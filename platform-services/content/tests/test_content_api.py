"""Unit tests of the content service: owner-only writes, enrolled-only links, link expiry and tampering."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from course_common import ServiceClient
from course_common.auth import verify_token
from course_common.testing import TEST_JWT_SECRET, bearer, make_settings
from content_service.main import create_app
from content_service.signing import LinkRefused, LinkSigner

OWNER = bearer(10, "instructor")
OTHER_INSTRUCTOR = bearer(11, "instructor")
ENROLLED = bearer(20, "student")
NOT_ENROLLED = bearer(21, "student")
LESSON = "/api/content/courses/7/lessons/70"


def course_transport(request: httpx.Request) -> httpx.Response:
    cid = int(request.url.path.rsplit("/", 1)[1])
    if cid != 7:
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
    return httpx.Response(200, json={"id": 7, "instructor_id": 10, "lessons": [{"id": 70}, {"id": 71}]})


def enrollment_transport(request: httpx.Request) -> httpx.Response:
    who = verify_token(TEST_JWT_SECRET, request.headers["authorization"].split()[1])
    cid = int(request.url.params["course_id"])
    return httpx.Response(200, json={"enrolled": who.user_id == 20 and cid == 7})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def client(tmp_path, clock):
    course = ServiceClient("course", httpx.Client(transport=httpx.MockTransport(course_transport),
                                                  base_url="http://course.test"))
    enrol = ServiceClient("enrollment", httpx.Client(transport=httpx.MockTransport(enrollment_transport),
                                                     base_url="http://enrollment.test"))
    app = create_app(make_settings("content", tmp_path), course_client=course, enrollment_client=enrol,
                     signer=LinkSigner(b"unit-test-signing-key", ttl_seconds=300, clock=clock))
    with TestClient(app) as c:
        c.put(LESSON, json={"body": "# Lesson one\nHello.", "content_type": "text/markdown"}, headers=OWNER)
        yield c


def link(client, headers=ENROLLED, path=LESSON):
    return client.post(path + "/link", headers=headers)


def test_an_enrolled_student_reads_content_through_a_signed_link(client):
    r = link(client)
    assert r.status_code == 200
    read = client.get(r.json()["url"])
    assert read.status_code == 200 and read.text == "# Lesson one\nHello."
    assert read.headers["content-type"].startswith("text/markdown")
    assert read.headers["cache-control"] == "private, no-store"


def test_a_student_not_enrolled_gets_no_link(client):
    r = link(client, headers=NOT_ENROLLED)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_enrolled"
    assert link(client, headers={}).status_code == 401


def test_the_link_expires(client, clock):
    url = link(client).json()["url"]
    clock.now += 299
    assert client.get(url).status_code == 200
    clock.now += 1
    r = client.get(url)
    assert r.status_code == 410 and r.json()["error"]["code"] == "link_expired"


@pytest.mark.parametrize("field,value", [("u", "21"), ("exp", "99999999999"), ("sig", "AAAA")])
def test_a_tampered_link_is_refused(client, field, value):
    url = urlparse(link(client).json()["url"])
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    q[field] = value
    r = client.get(url.path, params=q)
    assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_signature"


def test_a_link_for_one_lesson_does_not_open_another(client):
    client.put("/api/content/courses/7/lessons/71", json={"body": "two"}, headers=OWNER)
    url = link(client).json()["url"].replace("/signed/7/70", "/signed/7/71")
    assert client.get(url).status_code == 403


def test_only_the_owner_or_an_admin_writes_content(client):
    r = client.put(LESSON, json={"body": "hijack"}, headers=OTHER_INSTRUCTOR)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_owner"
    assert client.put(LESSON, json={"body": "x"}, headers=ENROLLED).status_code == 403
    assert client.put(LESSON, json={"body": "by admin"}, headers=bearer(1, "admin")).status_code == 200
    assert client.get(link(client).json()["url"]).text == "by admin"
    assert client.put("/api/content/courses/7/lessons/99", json={"body": "x"}, headers=OWNER).status_code == 404
    assert client.put("/api/content/courses/8/lessons/70", json={"body": "x"}, headers=OWNER).status_code == 404


def test_owner_gets_links_without_enrolment_but_other_instructors_do_not(client):
    assert link(client, headers=OWNER).status_code == 200
    assert link(client, headers=OTHER_INSTRUCTOR).status_code == 403


@pytest.mark.parametrize("body", [{"body": ""}, {"body": "x", "content_type": "application/x-sh"}, {}])
def test_bad_content_is_a_422(client, body):
    assert client.put(LESSON, json=body, headers=OWNER).status_code == 422


def test_missing_content_and_bad_link_params(client):
    assert link(client, path="/api/content/courses/7/lessons/71").status_code == 404
    assert client.get("/api/content/signed/7/70?u=x&exp=1&sig=a").status_code == 422
    assert client.get("/api/content/signed/7/70").status_code == 422


def test_signer_is_pure():
    signer = LinkSigner(b"k", ttl_seconds=10, clock=lambda: 100.0)
    exp, sig = signer.sign(1, 2, 3)
    assert exp == 110
    signer.verify(1, 2, 3, exp, sig)
    with pytest.raises(LinkRefused) as refused:
        LinkSigner(b"other", clock=lambda: 100.0).verify(1, 2, 3, exp, sig)
    assert refused.value.reason == "invalid_signature"
