"""Unit tests of the enrollment service: payment verification, idempotent enrolment, the event outbox."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from course_common import ServiceClient
from course_common.auth import verify_token
from course_common.testing import TEST_JWT_SECRET, bearer, make_settings
from enrollment_service.main import create_app

STUDENT = bearer(20, "student", email="stu@example.com")
OTHER = bearer(21, "student")

PAYMENTS = {
    1: {"id": 1, "user_id": 20, "course_id": 7, "status": "succeeded"},
    2: {"id": 2, "user_id": 20, "course_id": 7, "status": "declined"},
    3: {"id": 3, "user_id": 20, "course_id": 8, "status": "succeeded"},
    4: {"id": 4, "user_id": 20, "course_id": 9, "status": "succeeded"},
}


def payment_transport(request: httpx.Request) -> httpx.Response:
    pid = int(request.url.path.rsplit("/", 1)[1])
    caller = verify_token(TEST_JWT_SECRET, request.headers["authorization"].split()[1])
    p = PAYMENTS.get(pid)
    if p is None or p["user_id"] != caller.user_id:  # like the real service: others' payments are 404
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no payment"}})
    return httpx.Response(200, json=p)


def course_transport(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": 7, "title": "Python for Everyone"})


class FlakyPublisher:
    transport = "test"

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.sent = failures, []

    def publish(self, event):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker down")
        self.sent.append(event)

    def close(self):
        pass


def make_client(tmp_path, publisher):
    pay = ServiceClient("payment", httpx.Client(transport=httpx.MockTransport(payment_transport),
                                                base_url="http://payment.test"))
    course = ServiceClient("course", httpx.Client(transport=httpx.MockTransport(course_transport),
                                                  base_url="http://course.test"))
    app = create_app(make_settings("enrollment", tmp_path), payment_client=pay, course_client=course,
                     publisher=publisher, start_relay=False)
    return TestClient(app)


@pytest.fixture()
def publisher():
    return FlakyPublisher()


@pytest.fixture()
def client(tmp_path, publisher):
    with make_client(tmp_path, publisher) as c:
        yield c


def enrol(client, course_id=7, payment_id=1, headers=STUDENT):
    return client.post("/api/enrollment/enrollments", json={"course_id": course_id, "payment_id": payment_id},
                       headers=headers)


def test_enrolment_with_a_succeeded_payment_creates_an_event(client, publisher):
    r = enrol(client)
    assert r.status_code == 201 and r.json()["course_id"] == 7
    check = client.get("/api/enrollment/enrollments/check?course_id=7", headers=STUDENT).json()
    assert check["enrolled"] is True
    assert client.app.state.relay.flush() == 1
    [event] = publisher.sent
    assert (event["type"], event["email"], event["course_title"]) == \
        ("enrollment.created", "stu@example.com", "Python for Everyone")
    assert 'enrollments_total{service="enrollment"} 1.0' in client.get("/metrics").text


def test_enrolment_is_refused_without_a_succeeded_payment(client):
    r = enrol(client, payment_id=2)
    assert r.status_code == 402 and r.json()["error"]["code"] == "payment_not_succeeded"
    r = enrol(client, payment_id=999)
    assert r.status_code == 402 and r.json()["error"]["code"] == "payment_required"
    r = enrol(client, course_id=7, payment_id=3)
    assert r.status_code == 422 and r.json()["error"]["code"] == "payment_course_mismatch"
    r = enrol(client, payment_id=1, headers=OTHER)  # someone else's payment
    assert r.status_code == 402
    assert client.get("/api/enrollment/enrollments/check?course_id=7", headers=STUDENT).json()["enrolled"] is False
    assert client.app.state.relay.pending() == 0


def test_enrolling_twice_is_idempotent_and_makes_one_event(client, publisher):
    first = enrol(client)
    again = enrol(client)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    client.app.state.relay.flush()
    assert len(publisher.sent) == 1


def test_a_failed_publish_is_kept_and_retried(tmp_path):
    publisher = FlakyPublisher(failures=2)
    with make_client(tmp_path, publisher) as client:
        enrol(client)
        enrol(client, course_id=9, payment_id=4)
        relay = client.app.state.relay
        assert relay.flush() == 0 and relay.pending() == 2
        assert relay.flush() == 0 and relay.pending() == 2
        assert relay.flush() == 2 and relay.pending() == 0
        assert [e["course_id"] for e in publisher.sent] == [7, 9]  # in order
        text = client.get("/metrics").text
    assert 'events_published_total{outcome="failed",service="enrollment",transport="test"} 2.0' in text


def test_the_relay_thread_delivers_without_being_asked(tmp_path):
    import threading

    delivered = threading.Event()

    class Signalling(FlakyPublisher):
        def publish(self, event):
            super().publish(event)
            delivered.set()

    pay = ServiceClient("payment", httpx.Client(transport=httpx.MockTransport(payment_transport),
                                                base_url="http://payment.test"))
    course = ServiceClient("course", httpx.Client(transport=httpx.MockTransport(course_transport),
                                                  base_url="http://course.test"))
    app = create_app(make_settings("enrollment", tmp_path), payment_client=pay, course_client=course,
                     publisher=Signalling())
    with TestClient(app) as client:
        enrol(client)
        assert delivered.wait(timeout=10)


def test_listing_needs_a_token_and_shows_only_mine(client):
    enrol(client)
    assert client.get("/api/enrollment/enrollments").status_code == 401
    assert len(client.get("/api/enrollment/enrollments", headers=STUDENT).json()["items"]) == 1
    assert client.get("/api/enrollment/enrollments", headers=OTHER).json()["items"] == []


@pytest.mark.parametrize("body", [{"course_id": 7}, {"course_id": "x", "payment_id": 1},
                                  {"course_id": 0, "payment_id": 1}])
def test_bad_input_is_a_422(client, body):
    r = client.post("/api/enrollment/enrollments", json=body, headers=STUDENT)
    assert r.status_code == 422
    assert client.get("/api/enrollment/enrollments/check", headers=STUDENT).status_code == 422
