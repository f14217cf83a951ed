"""The RabbitMQ topology the platform's events use, and a TCP reachability check for readiness."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

EXCHANGE = "course.events"
ENROLLMENT_CREATED = "enrollment.created"
NOTIFICATION_QUEUE = "notification.enrollment-created"


def declare_topology(channel: Any) -> None:
    """Durable topic exchange plus the notification queue bound to it (declared by both sides, so an event
    published before the consumer ever started is kept, not dropped)."""
    channel.exchange_declare(exchange=EXCHANGE, exchange_type="topic", durable=True)
    channel.queue_declare(queue=NOTIFICATION_QUEUE, durable=True)
    channel.queue_bind(queue=NOTIFICATION_QUEUE, exchange=EXCHANGE, routing_key=ENROLLMENT_CREATED)


def connection_parameters(url: str) -> Any:
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = 5
    params.blocked_connection_timeout = 10
    params.connection_attempts = 1
    params.heartbeat = 30
    return params


def tcp_check(url: str, default_port: int, timeout: float = 2.0) -> None:
    """Raise OSError unless host:port of `url` accepts a TCP connection."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=timeout):
        pass
