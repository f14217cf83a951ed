"""The Notifier contract, run against every implementation: console, Slack (webhook and bot token, through the
local Slack stand-in) and e-mail (plain SMTP, and STARTTLS with a login, through a real aiosmtpd server)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from coursectl.domain import Notification
from coursectl.errors import CoursectlError, ExternalError
from coursectl.ports import Notifier
from coursectl.render.slack_blocks import check_limits
from tests.conftest import needs_fixtures
from tests.support.servers import free_port
from tests.support.slack_standin import SlackServer
from tests.support.smtp_server import SmtpServer


@dataclass
class Rig:
    notifier: Any
    received: Callable[[], list[str]]  # every message as the receiver sees it now (text)
    broken: Callable[[], Any]  # the same kind of notifier, pointed at nothing
    secret: str | None
    payloads: Callable[[], list[dict[str, Any]]] | None = None  # Slack: the JSON bodies sent


def _n(event: str = "deploy.started", final: bool = False, **kw: Any) -> Notification:
    base: dict[str, Any] = dict(
        event=event, title="Deployment started", environment="staging", service="course", version="v2",
        summary="course v2 is rolling out to staging (canary)", fields=(("Environment", "staging"),
                                                                         ("Strategy", "canary")),
        key="rollout0001", final=final, actor="alice",
    )
    base.update(kw)
    return Notification(**base)


@pytest.fixture
def console() -> Iterator[Rig]:
    from coursectl.adapters.console_notifier import ConsoleNotifier

    stream = io.StringIO()

    def broken() -> Any:
        dead = io.StringIO()
        dead.close()
        return ConsoleNotifier(dead)

    yield Rig(ConsoleNotifier(stream), lambda: [m for m in stream.getvalue().split("notify: ") if m], broken, None)


@pytest.fixture
def slack_webhook() -> Iterator[Rig]:
    from coursectl.adapters.slack import SlackWebhookNotifier

    with SlackServer() as standin:
        def received() -> list[str]:
            return [str(r.body) for r in standin.calls(standin.webhook_path)]

        yield Rig(SlackWebhookNotifier(standin.webhook_url, timeout=5), received,
                  lambda: SlackWebhookNotifier(f"http://127.0.0.1:{free_port()}{standin.webhook_path}", timeout=2),
                  standin.webhook_path, lambda: [r.body for r in standin.requests])


@pytest.fixture
def slack_bot() -> Iterator[Rig]:
    from coursectl.adapters.slack import SlackBotNotifier

    with SlackServer() as standin:
        def received() -> list[str]:
            return [str(m) for m in standin.messages.values()]

        yield Rig(SlackBotNotifier(standin.token, "#releases", base_url=standin.api_url, timeout=5), received,
                  lambda: SlackBotNotifier(standin.token, "#releases", base_url=f"http://127.0.0.1:{free_port()}/api/",
                                           timeout=2),
                  standin.token, lambda: [r.body for r in standin.requests])


@pytest.fixture
def email_plain(tmp_path: Path) -> Iterator[Rig]:
    from coursectl.adapters.smtp_email import EmailNotifier

    with SmtpServer(tmp_path) as box:
        def received() -> list[str]:
            return [str(r.message) for r in box.received]

        def make(port: int) -> EmailNotifier:
            return EmailNotifier(host="127.0.0.1", port=port, sender="coursectl@example.org",
                                 recipients=["oncall@example.org"], timeout=5)

        yield Rig(make(box.port), received, lambda: make(free_port()), None)


@pytest.fixture
def email_starttls(tmp_path: Path) -> Iterator[Rig]:
    from coursectl.adapters.smtp_email import EmailNotifier

    server = SmtpServer(tmp_path, starttls=True, users={"releases": "s3cret-pass"})
    with server as box:
        def received() -> list[str]:
            assert all(r.tls and r.login == "releases" for r in box.received), "sent without TLS or login"
            return [str(r.message) for r in box.received]

        def make(port: int) -> EmailNotifier:
            return EmailNotifier(host="127.0.0.1", port=port, sender="coursectl@example.org",
                                 recipients=["oncall@example.org"], starttls=True, ca_file=str(server.cert),
                                 username="releases", password="s3cret-pass", timeout=5)

        yield Rig(make(box.port), received, lambda: make(free_port()), "s3cret-pass")


IMPLEMENTATIONS = [
    "console",
    pytest.param("slack_webhook"),
    pytest.param("slack_bot", marks=needs_fixtures),
    "email_plain",
    "email_starttls",
]


@pytest.fixture(params=IMPLEMENTATIONS)
def rig(request: pytest.FixtureRequest) -> Rig:
    value: Rig = request.getfixturevalue(request.param)
    return value


def _wait(check: Callable[[], bool], timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_is_a_notifier_with_a_channel_name(rig: Rig) -> None:
    assert isinstance(rig.notifier, Notifier)
    assert rig.notifier.name in ("console", "slack", "email")
    assert isinstance(rig.notifier.supports_update, bool)


def test_send_delivers_the_notification(rig: Rig) -> None:
    delivery = rig.notifier.send(_n())
    assert delivery.ok and delivery.status == "sent"
    assert delivery.channel == rig.notifier.name and delivery.event == "deploy.started"
    _wait(lambda: len(rig.received()) == 1)
    [message] = rig.received()
    assert "course@v2" in message and "Deployment started" in message
    assert "staging" in message and "canary" in message


def test_a_huge_notification_is_delivered_within_the_channel_limits(rig: Rig) -> None:
    huge = _n(fields=tuple((f"Field {i}", "x" * 5000) for i in range(30)),
              details=tuple(f"line {i} " + "y" * 4000 for i in range(120)), summary="s" * 10000)
    assert rig.notifier.send(huge).ok
    _wait(lambda: len(rig.received()) == 1)
    assert len(rig.received()) == 1
    if rig.payloads is not None:
        [payload] = rig.payloads()
        assert check_limits(payload) == []
        assert len(payload["blocks"]) == 50 and payload["text"]


def test_a_later_notification_of_the_same_rollout_updates_in_place_when_it_can(rig: Rig) -> None:
    first = rig.notifier.send(_n())
    final = rig.notifier.send(_n("deploy.promoted", final=True, title="Deployment promoted"), update=first.ref)
    assert final.ok
    if rig.notifier.supports_update:
        assert first.ref and final.status == "updated" and final.ref == first.ref
        _wait(lambda: "Deployment promoted" in "".join(rig.received()))
        [message] = rig.received()  # still ONE message, now saying how it ended
        assert "Deployment promoted" in message
    else:
        assert final.status == "sent"
        _wait(lambda: len(rig.received()) == 2)
        assert len(rig.received()) == 2


def test_an_unreachable_channel_raises_a_coursectl_error_that_shows_no_secret(rig: Rig) -> None:
    broken = rig.broken()
    with pytest.raises(CoursectlError) as caught:
        broken.send(_n())
    assert isinstance(caught.value, ExternalError)  # worth trying again later
    assert caught.value.__cause__ is not None or rig.notifier.name == "console"
    if rig.secret:
        assert rig.secret not in caught.value.message
