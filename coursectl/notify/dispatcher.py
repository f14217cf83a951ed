"""Deliver notifications to their channels in the background: route, retry with backoff, remember, record.

``NotificationService.publish`` only decides and enqueues, so a slow or failing channel never delays (nor fails)
what announced it; one worker thread delivers in order (so a rollout's message is posted before it is updated),
retrying ``ExternalError`` with exponential backoff (Slack's ``Retry-After`` respected, capped). Every delivery —
sent, updated in place, failed, or skipped — is recorded in the ledger as a ``notification`` event, from the
thread that owns the ledger connection (at the next ``publish`` and at ``drain``). ``drain`` waits a bounded time
at the end of a command and returns what happened, for the command to report.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from coursectl.domain import Delivery, LedgerEvent, Notification
from coursectl.errors import CoursectlError, ExternalError
from coursectl.notify.messages import FINAL_EVENTS
from coursectl.notify.routing import Route, channels_for
from coursectl.ports import Notifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Tries per delivery, and the pauses between them (doubling from ``backoff`` up to ``max_backoff``)."""

    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 8.0

    def pause(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        wanted = float(self.backoff * (2 ** (attempt - 1)))
        if retry_after is not None:
            wanted = max(wanted, retry_after)
        return min(wanted, self.max_backoff)


@dataclass
class _Job:
    notification: Notification
    channels: list[str]
    known_refs: dict[str, str] = field(default_factory=dict)


class Unavailable:
    """A configured channel that cannot be used here (its secret is missing): every send says why."""

    supports_update = False

    def __init__(self, name: str, error: CoursectlError):
        self.name = name
        self.error = error

    def send(self, notification: Notification, *, update: str | None = None) -> Delivery:
        raise self.error


class NotificationService:
    """Routes and delivers notifications; see the module docstring."""

    def __init__(
        self,
        notifiers: Mapping[str, Notifier | Unavailable],
        routes: Sequence[Route],
        *,
        ledger: Any = None,
        actor: str = "coursectl",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        drain_timeout: float = 20.0,
    ):
        self.notifiers = dict(notifiers)
        self.routes = list(routes)
        self.ledger = ledger
        self.actor = actor
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.drain_timeout = drain_timeout
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._refs: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._done: list[tuple[Notification, Delivery]] = []
        self._unrecorded: list[tuple[Notification, Delivery]] = []
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self.published: list[Notification] = []
        self.announced_takeovers: set[int] = set()

    # the announcing side (the command's thread) --------------------------------------------------------

    def publish(self, notification: Notification) -> None:
        """Route ``notification`` and queue its deliveries; never raises, never waits for a channel."""
        try:
            self._flush()
            channels = [c for c in channels_for(notification, self.routes) if c in self.notifiers]
            refs = self._known_refs(notification)
            if notification.key and (notification.final or notification.event == "deploy.progress"):
                # the message posted for this rollout is brought up to date, routed or not
                channels += [c for c in refs if c not in channels and self._updatable(c)]
            self.published.append(notification)
            if not channels:
                if notification.final:
                    self._finish(
                        notification,
                        Delivery(
                            "none",
                            notification.event,
                            "skipped",
                            attempts=0,
                            error="no route",
                            key=notification.key,
                        ),
                    )
                return
            with self._lock:
                self._pending += 1
            self._queue.put(_Job(notification, channels, refs))
            self._ensure_worker()
        except Exception as exc:  # announcing must never break what announces
            log.warning("notifications: could not queue %s: %s", notification.event, exc)

    def deliver(self, notification: Notification, channels: Sequence[str]) -> None:
        """Queue ``notification`` to exactly ``channels`` (no routing): ``coursectl notify test``."""
        self._flush()
        unknown = [c for c in channels if c not in self.notifiers]
        if unknown:
            from coursectl.errors import PreconditionError

            raise PreconditionError(
                f"notification channel(s) not configured: {', '.join(unknown)}",
                hint="configure them under notifications: in coursectl.yaml",
            )
        self.published.append(notification)
        with self._lock:
            self._pending += 1
        self._queue.put(_Job(notification, list(channels), self._known_refs(notification)))
        self._ensure_worker()

    def drain(self, timeout: float | None = None) -> list[Delivery]:
        """Wait (at most ``timeout``, default the configured drain time) for queued deliveries; record them;
        return every delivery since the previous drain. What is still going after that is reported as failed."""
        limit = self.drain_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, limit)
        with self._idle:
            while self._pending and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
            pending = self._pending
        if pending:
            log.warning("notifications: %d delivery job(s) still running after %.0f s", pending, limit)
            with self._lock:  # reported, not recorded: the worker records nothing once the command is over
                self._done.append(
                    (
                        Notification(event="pending", title="pending"),
                        Delivery(
                            "*",
                            "pending",
                            "failed",
                            attempts=0,
                            error=f"{pending} notification(s) still being delivered when the command ended",
                        ),
                    )
                )
        self._flush()
        with self._lock:
            done, self._done = self._done, []
        return [d for _, d in done]

    def close(self) -> None:
        """Stop the worker after what is queued (the command is ending)."""
        if self._thread is not None:
            self._queue.put(None)

    def _known_refs(self, n: Notification) -> dict[str, str]:
        if not n.key or not any(self._updatable(c) for c in self.notifiers):
            return {}
        found: dict[str, str] = {}
        with self._lock:
            for (channel, key), ref in self._refs.items():
                if key == n.key:
                    found[channel] = ref
        if self.ledger is not None:
            for channel, ref in ledger_refs(self.ledger, n.key).items():
                found.setdefault(channel, ref)
        return found

    def _updatable(self, channel: str) -> bool:
        return bool(getattr(self.notifiers.get(channel), "supports_update", False))

    def _finish(self, n: Notification, d: Delivery) -> None:
        with self._lock:
            self._done.append((n, d))
            self._unrecorded.append((n, d))

    def _flush(self) -> None:
        with self._lock:
            batch, self._unrecorded = self._unrecorded, []
        if self.ledger is None:
            return
        for n, d in batch:
            try:
                self.ledger.record(delivery_event(n, d, self.actor))
            except Exception as exc:  # a busy ledger must not break the command
                log.warning("notifications: could not record a delivery: %s", exc)

    # the delivering side (the worker thread) -------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="coursectl-notify", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                for channel in job.channels:
                    self._finish(job.notification, self._deliver(job, channel))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, job: _Job, channel: str) -> Delivery:
        n = job.notification
        notifier = self.notifiers[channel]
        update = None
        if n.key and getattr(notifier, "supports_update", False):
            with self._lock:
                update = self._refs.get((channel, n.key))
            update = update or job.known_refs.get(channel)
        if n.event == "deploy.progress" and update is None:
            return Delivery(
                channel,
                n.event,
                "skipped",
                attempts=0,
                error="nothing posted yet to update",
                key=n.key,
                final=False,
            )
        attempt = 0
        while True:
            attempt += 1
            try:
                delivery = notifier.send(n, update=update)
            except ExternalError as exc:
                if attempt >= self.retry.attempts:
                    return Delivery(
                        channel,
                        n.event,
                        "failed",
                        attempts=attempt,
                        error=exc.message,
                        key=n.key,
                        final=n.final,
                        error_type=exc.kind,
                    )
                retry_after = exc.details.get("retry_after") if exc.details else None
                self._sleep(self.retry.pause(attempt, float(retry_after) if retry_after is not None else None))
                continue
            except CoursectlError as exc:  # refused for good: retrying will not help
                return Delivery(
                    channel,
                    n.event,
                    "failed",
                    attempts=attempt,
                    error=exc.message,
                    key=n.key,
                    final=n.final,
                    error_type=exc.kind,
                )
            except Exception as exc:  # a bug in a notifier: recorded, never raised into the command
                return Delivery(
                    channel,
                    n.event,
                    "failed",
                    attempts=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                    key=n.key,
                    final=n.final,
                    error_type="internal",
                )
            if delivery.ref and n.key:
                with self._lock:
                    self._refs[(channel, n.key)] = delivery.ref
            return replace(delivery, attempts=attempt, key=n.key, final=n.final)


# the ledger side --------------------------------------------------------------------------------------------


def delivery_event(n: Notification, d: Delivery, actor: str) -> LedgerEvent:
    """The ledger row of one delivery (no secret is in a notification or a delivery)."""
    return LedgerEvent(
        kind="notification",
        actor=actor,
        environment=n.environment,
        service=n.service,
        version=n.version,
        outcome=d.status,
        details={
            "event": n.event,
            "title": n.title,
            "severity": n.severity,
            "channel": d.channel,
            "attempts": d.attempts,
            "error": d.error,
            "ref": d.ref,
            "key": n.key,
            "final": n.final,
            "error_type": d.error_type,
        },
    )


def _notification_rows(ledger: Any, limit: int = 500) -> list[LedgerEvent]:
    rows: list[LedgerEvent] = ledger.events(kinds=["notification"], limit=limit)
    return rows


def ledger_refs(ledger: Any, key: str) -> dict[str, str]:
    """Channel → message reference of the newest delivery recorded for rollout ``key`` (another process's)."""
    refs: dict[str, str] = {}
    for event in _notification_rows(ledger):
        d = event.details
        if d.get("key") == key and d.get("ref") and event.outcome in ("sent", "updated"):
            refs.setdefault(str(d.get("channel")), str(d["ref"]))
    return refs


def ledger_has_final(ledger: Any, key: str) -> bool:
    """Whether the end of rollout ``key`` was already announced (by any process)."""
    return any(
        e.details.get("key") == key and e.details.get("final") and e.details.get("event") in FINAL_EVENTS
        for e in _notification_rows(ledger)
    )
