"""Unit tests of the notification service: intake, de-duplication, sending, retries that never lose an event."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from course_common.testing import bearer, make_settings
from notification_service.main import create_app
from notification_service.store import _now

STUDENT = bearer(20, "student", email="stu@example.com")


class Outbox:
    def __init__(self, failures: int = 0) -> None:
        self.failures, self.messages = failures, []

    def __call__(self, message):
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("smtp down")
        self.messages.append(message)


def event(**over):
    e = {"event_id": str(uuid.uuid4()), "type": "enrollment.created", "enrollment_id": 1, "user_id": 20,
         "email": "stu@example.com", "course_id": 7, "course_title": "Python for Everyone"}
    e.update(over)
    return e


def make(tmp_path, outbox):
    return TestClient(create_app(make_settings("notification", tmp_path), send=outbox, start_workers=False))


def test_an_event_becomes_one_email(tmp_path):
    outbox = Outbox()
    with make(tmp_path, outbox) as c:
        e = event()
        assert c.post("/api/notification/events", json=e, headers=STUDENT).json()["recorded"] is True
        assert c.post("/api/notification/events", json=e, headers=STUDENT).json()["recorded"] is False
        assert c.app.state.sender.deliver_due() == 1
        assert c.app.state.sender.deliver_due() == 0
        [msg] = outbox.messages
        assert msg["To"] == "stu@example.com" and "Python for Everyone" in msg["Subject"]
        items = c.get("/api/notification/notifications", headers=STUDENT).json()["items"]
        assert [i["status"] for i in items] == ["sent"]


def test_a_failed_send_is_retried_with_backoff_and_not_lost(tmp_path):
    outbox = Outbox(failures=2)
    with make(tmp_path, outbox) as c:
        c.post("/api/notification/events", json=event(), headers=STUDENT)
        sender = c.app.state.sender
        assert sender.deliver_due() == 0
        assert sender.deliver_due() == 0  # not due yet: backoff
        assert sender.deliver_due(now=_now() + timedelta(seconds=5)) == 0  # second failure
        assert sender.deliver_due(now=_now() + timedelta(seconds=30)) == 1
        assert len(outbox.messages) == 1
        item = c.get("/api/notification/notifications", headers=STUDENT).json()["items"][0]
        assert (item["status"], item["attempts"]) == ("sent", 3)
        assert 'emails_total{outcome="failed",service="notification"} 2.0' in c.get("/metrics").text


def test_events_for_another_user_are_refused(tmp_path):
    with make(tmp_path, Outbox()) as c:
        r = c.post("/api/notification/events", json=event(user_id=99), headers=STUDENT)
        assert r.status_code == 403
        assert c.post("/api/notification/events", json=event()).status_code == 401


@pytest.mark.parametrize("over", [{"type": "payment.created"}, {"email": "nope"}, {"event_id": "x"},
                                  {"user_id": "abc"}])
def test_bad_events_are_a_422(tmp_path, over):
    with make(tmp_path, Outbox()) as c:
        assert c.post("/api/notification/events", json=event(**over), headers=STUDENT).status_code == 422


def test_consumer_records_then_acks_and_requeues_on_failure(tmp_path):
    import json

    from notification_service.consumer import Consumer

    class Channel:
        def __init__(self):
            self.acks, self.nacks = [], []

        def basic_ack(self, tag):
            self.acks.append(tag)

        def basic_nack(self, tag, requeue):
            self.nacks.append((tag, requeue))

    class Method:
        def __init__(self, tag):
            self.delivery_tag = tag

    seen = []
    fail = {"on": True}

    def handle(e):
        if fail["on"]:
            raise OSError("database down")
        seen.append(e.event_id)

    consumer = Consumer("amqp://unused", handle)
    consumer._stop.set()  # no waiting between requeues in this test
    ch = Channel()
    e = event()
    consumer._on_message(ch, Method(1), None, json.dumps(e).encode())
    assert ch.nacks == [(1, True)] and ch.acks == [] and seen == []
    fail["on"] = False
    consumer._on_message(ch, Method(2), None, json.dumps(e).encode())
    assert ch.acks == [2] and seen == [e["event_id"]]
    consumer._on_message(ch, Method(3), None, b"not json")
    assert ch.acks == [2, 3]
