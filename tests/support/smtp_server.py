"""A real SMTP server (aiosmtpd) on 127.0.0.1 for notification tests: plain, STARTTLS (self-signed certificate
made with openssl) and AUTH, keeping every message it receives with the session's TLS state."""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.servers import free_port


@dataclass
class Received:
    message: Any
    tls: bool
    login: str | None
    rcpt: list[str]


@dataclass
class Mailbox:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Received) -> None:
        with self._cond:
            self.received.append(item)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
        return list(self.received)


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (openssl, 1 day)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


class SmtpServer:
    """``with SmtpServer(tmp, starttls=True, users={"u": "p"}) as box:`` — a running aiosmtpd."""

    def __init__(self, folder: Path, *, starttls: bool = False, users: dict[str, str] | None = None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.port = free_port()
        self.box = Mailbox("127.0.0.1", self.port)
        self.cert: Path | None = None
        box = self.box
        users = users or {}

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                login = getattr(session, "auth_data", None)
                box.add(Received(message, tls=session.ssl is not None, login=login, rcpt=list(envelope.rcpt_tos)))
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            if isinstance(data, LoginPassword) and users.get(data.login.decode()) == data.password.decode():
                return AuthResult(success=True, auth_data=data.login.decode())
            return AuthResult(success=False, handled=False)

        kwargs: dict[str, Any] = {}
        if starttls:
            self.cert, key = self_signed(folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.cert), str(key))
            kwargs.update(tls_context=context, require_starttls=True)
        if users:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=starttls)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self.box

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
