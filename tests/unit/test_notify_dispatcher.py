"""The notification dispatcher: background delivery, retries with backoff, update in place, ledger records."""

from __future__ import annotations

import threading
from pathlib import Path

from coursectl.domain import Delivery, Notification
from coursectl.errors import AuthError, ExternalError
from coursectl.ledger import SqliteLedger
from coursectl.notify.dispatcher import NotificationService, RetryPolicy, Unavailable, ledger_has_final
from coursectl.notify.routing import Route

ALL = [Route(("*",), (), "info", ("slack",))]


class Flaky:
    """Fails ``failures`` times with ``error`` before it delivers; can hold every send until released."""

    def __init__(self, failures: int = 0, error: Exception | None = None, supports_update: bool = True):
        self.name = "slack"
        self.supports_update = supports_update
        self.failures = failures
        self.error = error or ExternalError("Slack chat.postMessage failed: ratelimited (HTTP 429)",
                                            details={"retry_after": 3})
        self.calls: list[tuple[str, str | None]] = []
        self.gate = threading.Event()
        self.gate.set()

    def send(self, n: Notification, *, update: str | None = None) -> Delivery:
        self.gate.wait(10)
        self.calls.append((n.event, update))
        if self.failures:
            self.failures -= 1
            raise self.error
        return Delivery("slack", n.event, "updated" if update else "sent", ref=update or "C1:1.0")


def _note(event: str = "deploy.started", key: str | None = "r1", final: bool = False) -> Notification:
    return Notification(event=event, title=event, environment="prod", service="course", version="v2", key=key,
                        final=final)


def test_retries_with_doubling_backoff_and_retry_after(tmp_path: Path) -> None:
    pauses: list[float] = []
    flaky = Flaky(failures=2)
    svc = NotificationService({"slack": flaky}, ALL, retry=RetryPolicy(3, 1.0, 8.0), sleep=pauses.append)
    svc.publish(_note())
    [delivery] = svc.drain(5)
    assert delivery.ok and delivery.attempts == 3
    assert pauses == [3.0, 3.0]  # Retry-After 3 s wins over 1 s, then 2 s
    assert RetryPolicy(5, 1.0, 8.0).pause(1) == 1.0 and RetryPolicy(5, 1.0, 8.0).pause(3) == 4.0
    assert RetryPolicy(5, 1.0, 8.0).pause(6) == 8.0 and RetryPolicy(5, 1.0, 8.0).pause(1, retry_after=60) == 8.0


def test_a_refused_channel_is_not_retried_and_never_raises(tmp_path: Path) -> None:
    pauses: list[float] = []
    flaky = Flaky(failures=5, error=AuthError("Slack chat.postMessage failed: invalid_auth"))
    svc = NotificationService({"slack": flaky}, ALL, sleep=pauses.append)
    svc.publish(_note())  # does not raise
    [delivery] = svc.drain(5)
    assert (delivery.status, delivery.attempts, delivery.error_type, pauses) == ("failed", 1, "auth", [])


def test_publish_never_waits_for_a_slow_channel() -> None:
    flaky = Flaky()
    flaky.gate.clear()  # the channel hangs
    svc = NotificationService({"slack": flaky}, ALL)
    import time

    started = time.monotonic()
    for i in range(20):
        svc.publish(_note(key=f"r{i}"))
    assert time.monotonic() - started < 0.5
    pending = svc.drain(0.2)
    assert [d.status for d in pending] == ["failed"] and "still being delivered" in (pending[0].error or "")
    flaky.gate.set()


def test_one_message_per_rollout_updated_in_place_and_recorded(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    flaky = Flaky()
    svc = NotificationService({"slack": flaky}, [Route(("deploy.started",), (), "info", ("slack",))],
                              ledger=ledger, actor="alice")
    svc.publish(_note("deploy.started"))
    svc.publish(_note("deploy.progress"))
    svc.publish(_note("deploy.promoted", final=True))  # not routed, but it closes the rollout's message
    svc.drain(5)
    assert flaky.calls == [("deploy.started", None), ("deploy.progress", "C1:1.0"), ("deploy.promoted", "C1:1.0")]
    rows = ledger.events(kinds=["notification"], newest_first=False)
    assert [(r.details["event"], r.outcome, r.details["ref"]) for r in rows] == [
        ("deploy.started", "sent", "C1:1.0"), ("deploy.progress", "updated", "C1:1.0"),
        ("deploy.promoted", "updated", "C1:1.0")]
    assert rows[0].actor == "alice" and rows[0].service == "course"
    assert ledger_has_final(ledger, "r1") and not ledger_has_final(ledger, "r2")
    # another process picks the same rollout up: it edits the same message (the ref comes from the ledger)
    other = Flaky()
    svc2 = NotificationService({"slack": other}, ALL, ledger=ledger)
    svc2.publish(_note("deploy.progress"))
    svc2.drain(5)
    assert other.calls == [("deploy.progress", "C1:1.0")]


def test_progress_with_nothing_posted_is_skipped_and_webhooks_get_no_updates() -> None:
    hook = Flaky(supports_update=False)
    svc = NotificationService({"slack": hook}, ALL)
    svc.publish(_note("deploy.progress"))
    svc.publish(_note("deploy.started"))
    svc.publish(_note("deploy.aborted", final=True))
    deliveries = svc.drain(5)
    assert hook.calls == [("deploy.started", None), ("deploy.aborted", None)]
    assert [d.status for d in deliveries] == ["sent", "sent"]


def test_an_unrouted_end_is_still_recorded(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    svc = NotificationService({}, [], ledger=ledger)
    svc.publish(_note("deploy.failed", final=True))
    [d] = svc.drain(1)
    assert (d.channel, d.status, d.error) == ("none", "skipped", "no route")
    assert ledger_has_final(ledger, "r1")


def test_an_unavailable_channel_says_why() -> None:
    svc = NotificationService({"slack": Unavailable("slack", AuthError("secret env:SLACK_WEBHOOK_URL is not set"))},
                              ALL)
    svc.publish(_note("deploy.failed", final=True))
    [d] = svc.drain(5)
    assert d.status == "failed" and d.error == "secret env:SLACK_WEBHOOK_URL is not set" and d.attempts == 1
