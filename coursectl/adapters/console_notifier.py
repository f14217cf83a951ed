"""The console notifier: a notification as a few plain lines on a stream (stderr by default)."""

from __future__ import annotations

import sys
from typing import TextIO

from coursectl.domain import Delivery, Notification
from coursectl.errors import ExternalError
from coursectl.render.slack_blocks import fallback_text


def console_lines(n: Notification) -> list[str]:
    """What the console shows: the fallback line, then each field and detail indented."""
    lines = [f"notify: {fallback_text(n)}"]
    lines += [f"  {name}: {value}" for name, value in n.fields]
    lines += [f"  - {line}" for line in n.details]
    lines += [f"  {name}: {url}" for name, url in n.links]
    return lines


class ConsoleNotifier:
    """Writes notifications to ``stream`` (printable text only: control characters are replaced)."""

    name = "console"
    supports_update = False

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream

    def send(self, notification: Notification, *, update: str | None = None) -> Delivery:
        stream = self._stream or sys.stderr
        text = "\n".join(console_lines(notification)) + "\n"
        text = "".join(c if c.isprintable() or c == "\n" else "\ufffd" for c in text)
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError) as exc:  # a closed or broken stream
            raise ExternalError(f"console notification could not be written: {exc}") from exc
        return Delivery(self.name, notification.event, "sent", key=notification.key, final=notification.final)
