"""Pure builder of a notification e-mail: subject, plain-text and HTML parts from templates/notifications/."""

from __future__ import annotations

from dataclasses import dataclass

from coursectl import __version__
from coursectl.domain import Notification
from coursectl.render.slack_blocks import header_text
from coursectl.render.templates import render

_COLOUR = {"info": "#2eb67d", "warning": "#ecb22e", "critical": "#e01e5a"}


@dataclass(frozen=True)
class EmailBody:
    """What an e-mail says: its subject and both parts."""

    subject: str
    text: str
    html: str


def subject_of(n: Notification) -> str:
    """``[coursectl] CRITICAL Deployment failed: course@v2 in prod`` — one line, at most 200 characters."""
    where = header_text(n) if n.service else ""
    if where and n.environment:
        where += f" in {n.environment}"
    subject = f"[coursectl] {n.severity.upper()} {n.title}" + (f": {where}" if where else "")
    subject = " ".join(subject.split())  # no line breaks in a header
    return subject if len(subject) <= 200 else subject[:199] + "…"


def build_email(n: Notification) -> EmailBody:
    """Subject, text and HTML of ``n`` (HTML autoescaped by the template environment)."""
    from coursectl.notify.messages import duration_text

    context = {
        "n": n,
        "header": header_text(n),
        "subject": subject_of(n),
        "colour": _COLOUR.get(n.severity, "#616061"),
        "duration": duration_text(n.duration_s) if n.duration_s is not None else "",
        "when": n.time.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "version": __version__,
    }
    return EmailBody(
        subject=context["subject"],  # type: ignore[arg-type]
        text=render("notifications/email.txt.j2", **context),
        html=render("notifications/email.html.j2", **context),
    )
