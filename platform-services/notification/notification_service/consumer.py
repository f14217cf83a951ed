"""The RabbitMQ consumer: each enrollment.created message is recorded, then acknowledged (never before)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

from pydantic import ValidationError

from course_common.amqp import NOTIFICATION_QUEUE, connection_parameters, declare_topology

from .store import EnrollmentCreated

log = logging.getLogger(__name__)


class Consumer:
    """Consumes in a thread; reconnects with backoff; a message whose recording fails is requeued."""

    def __init__(self, url: str, handle: Callable[[EnrollmentCreated], None],
                 on_result: Callable[[str], None] = lambda _: None) -> None:
        self.url, self.handle, self.on_result = url, handle, on_result
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._channel: Any = None
        self.connected = threading.Event()

    def _on_message(self, channel: Any, method: Any, _props: Any, body: bytes) -> None:
        try:
            event = EnrollmentCreated.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            log.warning("invalid event dropped", extra={"delivery_tag": method.delivery_tag})
            self.on_result("invalid")
            channel.basic_ack(method.delivery_tag)
            return
        try:
            self.handle(event)
        except Exception as exc:  # noqa: BLE001 - not recorded: give it back to the broker
            log.warning("event not recorded; requeued", extra={"event_id": event.event_id,
                                                               "error": type(exc).__name__})
            self.on_result("requeued")
            channel.basic_nack(method.delivery_tag, requeue=True)
            self._stop.wait(1.0)
            return
        channel.basic_ack(method.delivery_tag)
        self.on_result("consumed")

    def _run(self) -> None:
        import pika

        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._conn = pika.BlockingConnection(connection_parameters(self.url))
                channel = self._channel = self._conn.channel()
                declare_topology(channel)
                channel.basic_qos(prefetch_count=10)
                channel.basic_consume(queue=NOTIFICATION_QUEUE, on_message_callback=self._on_message)
                self.connected.set()
                backoff = 0.5
                log.info("consuming", extra={"queue": NOTIFICATION_QUEUE})
                channel.start_consuming()
            except Exception as exc:  # noqa: BLE001 - broker gone: reconnect
                if self._stop.is_set():
                    break
                log.warning("amqp connection lost; reconnecting", extra={"error": type(exc).__name__})
            finally:
                self.connected.clear()
                try:
                    if self._conn is not None and self._conn.is_open:
                        self._conn.close()
                except Exception:  # noqa: BLE001
                    pass
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 15.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="amqp-consumer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        conn, channel = self._conn, self._channel
        if conn is not None and channel is not None:
            try:
                conn.add_callback_threadsafe(channel.stop_consuming)
            except Exception:  # noqa: BLE001 - already closed
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
