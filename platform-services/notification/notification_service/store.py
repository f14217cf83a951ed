"""Recording events as pending e-mails (once per event_id) and the sender that delivers them with retries."""

from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, Callable

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from course_common import Database

from .schema import notifications

log = logging.getLogger(__name__)


class EnrollmentCreated(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_id: str = Field(min_length=8, max_length=36)
    type: str = Field(pattern=r"^enrollment\.created$")
    enrollment_id: int
    user_id: int
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    course_id: int
    course_title: str = Field(default="", max_length=300)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def record(db: Database, event: EnrollmentCreated) -> bool:
    """Store the e-mail for this event; False when the event was already recorded (a redelivery)."""
    title = event.course_title or f"course {event.course_id}"
    subject = f"You are enrolled in {title}"
    body = (f"Hello,\n\nyour enrolment in \"{title}\" is confirmed (enrolment {event.enrollment_id}).\n"
            "You can start reading its lessons now.\n\n-- The course platform\n")
    now = _now()
    try:
        with db.begin() as conn:
            conn.execute(notifications.insert().values(
                event_id=event.event_id, user_id=event.user_id, email=event.email, subject=subject, body=body,
                status="pending", attempts=0, next_attempt_at=now, created_at=now))
    except sa.exc.IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "Course Platform <no-reply@course-platform.local>"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


def smtp_send(config: SmtpConfig) -> Callable[[EmailMessage], None]:
    def send(message: EmailMessage) -> None:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            if config.starttls:
                smtp.starttls()
            if config.username and config.password:
                smtp.login(config.username, config.password)
            smtp.send_message(message)

    return send


class Sender:
    """Sends due e-mails; a failure leaves the row pending with exponential backoff (never dropped).

    Rows are claimed with a lease (next_attempt_at moved forward by a conditional UPDATE), so two replicas
    never send the same e-mail at the same time.
    """

    LEASE = timedelta(seconds=60)

    def __init__(self, db: Database, send: Callable[[EmailMessage], None], sender_address: str,
                 retry_base: float = 1.0, retry_max: float = 300.0, interval: float = 1.0,
                 on_result: Callable[[str], None] = lambda _: None) -> None:
        self.db, self.send, self.sender_address = db, send, sender_address
        self.retry_base, self.retry_max, self.interval, self.on_result = retry_base, retry_max, interval, on_result
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _claim(self, conn: sa.Connection, row: Any, now: datetime) -> bool:
        return conn.execute(notifications.update().where(
            notifications.c.id == row.id, notifications.c.status == "pending",
            notifications.c.next_attempt_at == row.next_attempt_at).values(
            next_attempt_at=now + self.LEASE)).rowcount == 1

    def deliver_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """One pass over the e-mails due at `now`; returns how many were sent."""
        now = now or _now()
        sent = 0
        with self._lock:
            with self.db.connect() as conn:
                rows = conn.execute(sa.select(notifications).where(
                    notifications.c.status == "pending", notifications.c.next_attempt_at <= now)
                    .order_by(notifications.c.id).limit(limit)).all()
            for row in rows:
                with self.db.begin() as conn:
                    if not self._claim(conn, row, now):
                        continue
                msg = EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = self.sender_address, row.email, row.subject
                msg["Message-ID"] = f"<{row.event_id}@course-platform>"
                msg.set_content(row.body)
                try:
                    self.send(msg)
                except Exception as exc:  # noqa: BLE001 - any failure: keep it and retry later
                    delay = min(self.retry_base * (2 ** row.attempts), self.retry_max)
                    with self.db.begin() as conn:
                        conn.execute(notifications.update().where(notifications.c.id == row.id).values(
                            attempts=row.attempts + 1, next_attempt_at=_now() + timedelta(seconds=delay),
                            last_error=f"{type(exc).__name__}"[:200]))
                    self.on_result("failed")
                    log.warning("e-mail send failed; will retry",
                                extra={"notification_id": row.id, "error": type(exc).__name__,
                                       "retry_in_s": delay})
                    continue
                with self.db.begin() as conn:
                    conn.execute(notifications.update().where(notifications.c.id == row.id).values(
                        status="sent", attempts=row.attempts + 1, sent_at=_now(), last_error=None))
                self.on_result("sent")
                log.info("e-mail sent", extra={"notification_id": row.id})
                sent += 1
        return sent

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.deliver_due()
            except Exception:  # noqa: BLE001 - survive a database hiccup
                log.exception("sender pass failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="smtp-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
