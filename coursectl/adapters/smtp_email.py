"""The e-mail notifier: plain-text and HTML parts from templates/, sent through smtplib (STARTTLS or TLS).

SMTP and network errors become coursectl errors here; the password never appears in a message.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from coursectl.config.secrets import SecretMasker
from coursectl.domain import Delivery, Notification
from coursectl.errors import AuthError, ExternalError, PreconditionError
from coursectl.render.notification_email import build_email


def compose(n: Notification, *, sender: str, recipients: Sequence[str], domain: str = "coursectl") -> EmailMessage:
    """The message for ``n``: subject, From/To, both parts; a rollout's mails share a thread (References)."""
    body = build_email(n)
    msg = EmailMessage()
    msg["Subject"] = body.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(n.time)
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["X-Coursectl-Event"] = n.event
    msg["X-Coursectl-Severity"] = n.severity
    if n.key:
        thread = f"<rollout-{n.key}@{domain}>"
        msg["References"] = thread
        msg["In-Reply-To"] = thread
    if n.severity == "critical":
        msg["X-Priority"] = "1"
    msg.set_content(body.text)
    msg.add_alternative(body.html, subtype="html")
    return msg


class EmailNotifier:
    """Sends each notification as one e-mail to the configured recipients."""

    name = "email"
    supports_update = False

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        starttls: bool = False,
        use_ssl: bool = False,
        ca_file: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ):
        self.host, self.port = host, port
        self.sender = sender
        self.recipients = list(recipients)
        self.starttls, self.use_ssl, self.ca_file = starttls, use_ssl, ca_file
        self.username, self._password = username, password
        self.timeout = timeout
        self._masker = SecretMasker([password] if password else [])

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()

    def send(self, notification: Notification, *, update: str | None = None) -> Delivery:
        if not self.recipients:
            raise PreconditionError(
                "e-mail notifications have no recipients", hint="list them in notifications.email.recipients"
            )
        msg = compose(notification, sender=self.sender, recipients=self.recipients)
        where = f"{self.host}:{self.port}"
        try:
            smtp: smtplib.SMTP
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise PreconditionError(
                            f"the SMTP server {where} does not offer STARTTLS, which notifications.email requires",
                            hint="never sent in the clear: fix the server or set starttls: false knowingly",
                        )
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(msg)
        except (PreconditionError, AuthError):
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthError(
                f"the SMTP server {where} refused the login of {self.username}: {exc.smtp_code}"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PreconditionError(
                f"the SMTP server {where} refused every recipient: {', '.join(sorted(exc.recipients))}"
            ) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise PreconditionError(
                f"the SMTP server {where} refused the sender {self.sender}: {exc.smtp_code}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            text = self._masker.mask(f"the SMTP server {where} answered {exc.smtp_code}: {exc.smtp_error!r}")
            if 500 <= exc.smtp_code < 600:
                raise PreconditionError(text) from exc
            raise ExternalError(text) from exc
        except ssl.SSLError as exc:
            raise PreconditionError(
                f"TLS with the SMTP server {where} failed: {exc.reason or exc}",
                hint="check notifications.email.ca_file",
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ExternalError(
                self._masker.mask(f"the SMTP server {where} is unreachable: {type(exc).__name__}: {exc}")
            ) from exc
        status = "sent"
        error = f"refused: {', '.join(sorted(refused))}" if refused else None
        return Delivery(
            self.name,
            notification.event,
            status,
            error=error,
            ref=str(msg["Message-ID"]),
            key=notification.key,
            final=notification.final,
        )
