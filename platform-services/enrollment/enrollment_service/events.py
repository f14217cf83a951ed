"""Delivering enrollment events from the outbox: to RabbitMQ (AMQP_URL) or straight to the notification service.

The event row is written in the same transaction as the enrolment, so no event is lost if the broker is
down; the relay thread publishes unpublished rows in order and marks them, retrying failures with backoff.
Delivery is at-least-once; consumers de-duplicate on `event_id`.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

import sqlalchemy as sa

from course_common import Database, ServiceClient, issue_token
from course_common.amqp import ENROLLMENT_CREATED, EXCHANGE, connection_parameters, declare_topology

from .schema import outbox

log = logging.getLogger(__name__)


class Publisher(Protocol):
    transport: str

    def publish(self, event: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class AmqpPublisher:
    """Publishes persistent messages with publisher confirms; reconnects after any failure."""

    transport = "amqp"

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self._channel: Any = None

    def _channel_open(self) -> Any:
        import pika

        if self._conn is None or self._conn.is_closed:
            self._conn = pika.BlockingConnection(connection_parameters(self.url))
            self._channel = self._conn.channel()
            self._channel.confirm_delivery()
            declare_topology(self._channel)
        return self._channel

    def publish(self, event: dict[str, Any]) -> None:
        import pika

        try:
            self._channel_open().basic_publish(
                exchange=EXCHANGE, routing_key=event["type"], body=json.dumps(event).encode(),
                properties=pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                message_id=event["event_id"]),
                mandatory=True)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        try:
            if self._conn is not None and self._conn.is_open:
                self._conn.close()
        except Exception:  # noqa: BLE001
            pass
        self._conn = self._channel = None


class HttpPublisher:
    """Without a broker: POST the event to the notification service, on the enrolled user's behalf."""

    transport = "http"

    def __init__(self, client: ServiceClient, jwt_secret: str) -> None:
        self.client, self.jwt_secret = client, jwt_secret

    def publish(self, event: dict[str, Any]) -> None:
        token = issue_token(self.jwt_secret, event["user_id"], event["email"], "student", 60)
        r = self.client.request("POST", "/api/notification/events", json=event,
                                authorization=f"Bearer {token}")
        if r.status_code not in (200, 201, 202):
            raise RuntimeError(f"notification service answered {r.status_code}")

    def close(self) -> None:
        self.client.close()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class OutboxRelay:
    """Publishes unpublished outbox rows; `flush()` is one pass, `start()` runs passes in a thread."""

    def __init__(self, db: Database, publisher: Publisher, on_result: Callable[[str], None] = lambda _: None,
                 interval: float = 1.0) -> None:
        self.db, self.publisher, self.on_result, self.interval = db, publisher, on_result, interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def flush(self, limit: int = 100) -> int:
        """Publish pending events in order; stop at the first failure (kept for the next pass)."""
        sent = 0
        with self._lock:
            with self.db.connect() as conn:
                rows = conn.execute(sa.select(outbox).where(outbox.c.published_at.is_(None))
                                    .order_by(outbox.c.id).limit(limit)).all()
            for row in rows:
                try:
                    self.publisher.publish(json.loads(row.payload))
                except Exception as exc:  # noqa: BLE001 - kept and retried
                    with self.db.begin() as conn:
                        conn.execute(outbox.update().where(outbox.c.id == row.id).values(
                            attempts=outbox.c.attempts + 1, last_error=type(exc).__name__[:200]))
                    self.on_result("failed")
                    log.warning("event publish failed; will retry",
                                extra={"event_id": row.event_id, "error": type(exc).__name__})
                    break
                with self.db.begin() as conn:
                    conn.execute(outbox.update().where(outbox.c.id == row.id).values(
                        published_at=_now(), attempts=outbox.c.attempts + 1, last_error=None))
                self.on_result("published")
                sent += 1
        return sent

    def pending(self) -> int:
        with self.db.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                .where(outbox.c.published_at.is_(None))).scalar_one()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        backoff = self.interval
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.flush()
                backoff = self.interval if self.pending() == 0 else min(backoff * 2, 30.0)
            except Exception:  # noqa: BLE001 - the relay must survive a database hiccup
                log.exception("outbox relay pass failed")
                backoff = min(backoff * 2, 30.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()
        self.wake()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.publisher.close()


__all__ = ["ENROLLMENT_CREATED", "AmqpPublisher", "HttpPublisher", "OutboxRelay", "Publisher"]
