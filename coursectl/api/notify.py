"""Use cases of notifications: test a channel, announce a build, a gate, a backup, lock take-overs.

Each takes a ``NotificationService`` (built by ``coursectl.wiring.notification_service``) and only publishes:
delivery happens in the background, and ``service.drain()`` at the end of the command says what became of it.
None of these raises because a channel failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from coursectl.domain import Delivery, Notification
from coursectl.errors import ExternalError, PreconditionError
from coursectl.notify import messages


def send_test(
    service: Any,
    channels: Sequence[str],
    *,
    actor: str | None,
    environment: str | None = None,
    links: Sequence[tuple[str, str]] = (),
    timeout: float | None = None,
) -> list[Delivery]:
    """Send a test message to ``channels`` now and wait for it (the one synchronous notification): exit 4 when
    a channel is not usable here (missing secret, refused token), 5 when it is unreachable."""
    if not channels:
        raise PreconditionError(
            "no notification channel is configured",
            hint="add notifications.slack or notifications.email to coursectl.yaml",
        )
    note = messages.probe_notification(", ".join(channels), actor=actor, environment=environment, links=links)
    service.deliver(note, channels)
    deliveries: list[Delivery] = service.drain(timeout)
    failed = [d for d in deliveries if not d.ok]
    if failed:
        text = "; ".join(f"{d.channel}: {d.error}" for d in failed)
        external = any(d.error_type in ("external", "timeout") for d in failed)
        cls = ExternalError if external else PreconditionError
        raise cls(f"test notification failed — {text}", details={"deliveries": [d.to_dict() for d in deliveries]})
    return deliveries


def notify_backup(
    service: Any,
    *,
    succeeded: bool,
    source: str,
    backup_id: str | None = None,
    store: str | None = None,
    size_bytes: int | None = None,
    duration_s: float | None = None,
    verified: bool | None = None,
    error: str | None = None,
    environment: str | None = None,
    actor: str | None = None,
    links: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> Notification:
    """Announce a backup that succeeded (``backup.succeeded``, info) or failed (``backup.failed``, critical).

    For the backup use cases: call it once per backup attempt, whatever happened; it never raises and never
    waits for a channel. Returns the notification published."""
    note = messages.backup_notification(
        succeeded=succeeded,
        source=source,
        backup_id=backup_id,
        store=store,
        size_bytes=size_bytes,
        duration_s=duration_s,
        verified=verified,
        error=error,
        environment=environment,
        actor=actor,
        links=links,
        now=now,
    )
    service.publish(note)
    return note


def notify_build(
    service: Any, *, result: str, links: Sequence[tuple[str, str]] = (), **facts: Any
) -> Notification:
    """Announce a CI build's result (``build``): SUCCESS, UNSTABLE, FAILURE, ABORTED."""
    note = messages.build_notification(result=result, links=links, **facts)
    service.publish(note)
    return note


def notify_gate(service: Any, gate: str, message: str, **facts: Any) -> Notification:
    """Announce that a gate (scan, quality gate, journey, load test, analysis) blocked a change."""
    note = messages.gate_notification(gate, message, **facts)
    service.publish(note)
    return note


def announce_lock_takeovers(
    service: Any, ledger: Any, *, since: datetime, actor: str, links: Sequence[tuple[str, str]] = ()
) -> list[Notification]:
    """Announce the deploy-lock take-overs ``actor`` made since ``since`` (the ledger records them as
    ``lock.takeover``); each once per service (they are remembered on it)."""
    seen: set[int] = service.announced_takeovers
    out = []
    for event in ledger.events(kinds=["lock.takeover"], since=since, limit=50, newest_first=False):
        if event.actor != actor or event.id in seen:
            continue
        seen.add(int(event.id or 0))
        note = messages.lock_takeover_notification(event, links)
        service.publish(note)
        out.append(note)
    return out
