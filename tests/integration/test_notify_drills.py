"""Notifications of real rollouts through the command line (HAProxy edge, local slot processes): one Slack message
per rollout updated in place, e-mail for what is routed there, and a Slack that fails never fails a deployment."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.testing.drill import Drill
from tests.conftest import needs_fixtures
from tests.support.slack_standin import SlackServer, StandIn
from tests.support.smtp_server import Mailbox, SmtpServer

pytestmark = [pytest.mark.integration, needs_fixtures,
              pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Drill]:
    d = Drill(tmp_path)
    yield d
    d.cleanup()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with SlackServer() as s:
        yield s


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    with SmtpServer(tmp_path) as box:
        yield box


def _notify(d: Drill, standin: StandIn, mailbox: Mailbox, retry: str = "{attempts: 3, backoff: 0.2s, drain: 10s}") -> None:
    d.env["SLACK_BOT_TOKEN"] = standin.token
    d.config.write_text(d.config.read_text() + f"""notifications:
  slack: {{token: {{env: SLACK_BOT_TOKEN}}, channel: "#releases", base_url: "{standin.api_url}"}}
  email: {{host: 127.0.0.1, port: {mailbox.port}, recipients: [oncall@example.org]}}
  routes:
    - {{events: [deploy, rollback, gate, lock], to: [slack]}}
    - {{events: [rollback, deploy.failed, deploy.aborted], to: [email]}}
  retry: {retry}
""")


def _notifications(d: Drill) -> list[dict]:  # type: ignore[type-arg]
    with sqlite3.connect(d.state / "ledger.db") as conn:
        rows = conn.execute("SELECT outcome, details FROM events WHERE kind = 'notification' ORDER BY id").fetchall()
    return [dict(json.loads(details), outcome=outcome) for outcome, details in rows]


def test_one_slack_message_per_rollout_updated_in_place(drill: Drill, standin: StandIn, mailbox: Mailbox) -> None:
    _notify(drill, standin, mailbox)
    for version in ("v1", "v2"):
        r = drill.run("deploy", "course", "--version", version)
        assert r.returncode == 0, r.stderr
        assert "warning: notification" not in r.stderr
    posts = standin.calls("/api/chat.postMessage")
    assert len(posts) == 2  # one message per rollout ...
    assert [p.body["blocks"][0]["text"]["text"] for p in posts] == ["course@v1", "course@v2"]
    assert all(":rocket: *Deployment started*" in p.body["blocks"][1]["text"]["text"] for p in posts)
    updates = standin.calls("/api/chat.update")
    assert len(updates) >= 4  # ... that follows it: steps, weights, the end
    for ts, message in standin.messages.items():
        assert message["updates"] >= 2
        assert message["text"].startswith("[INFO] Deployment promoted"), message["text"]
        fields = [f["text"] for b in message["blocks"] if b["type"] == "section" for f in b.get("fields", [])]
        assert any(f.startswith("*Weights*\n") and "100%" in f for f in fields)
        assert any(f == "*Actor*\ndrill" for f in fields) and any(f.startswith("*Strategy*\nblue-green") for f in fields)
    assert mailbox.received == []  # nothing routed to e-mail happened
    rows = _notifications(drill)
    finals = [r for r in rows if r["final"] and r["channel"] == "slack"]
    assert len(finals) == 2 and all(r["outcome"] == "updated" for r in finals)
    assert standin.token not in (drill.state / "ledger.db").read_bytes().decode(errors="replace")

    r = drill.run("rollback", "course")
    assert r.returncode == 0, r.stderr
    [mail] = mailbox.wait(1)
    assert mail.message["Subject"] == "[coursectl] WARNING Rolled back: course@v1 in drill"
    assert "course rolled back to v1 in drill" in mail.message.get_body(("plain",)).get_content()
    assert standin.calls("/api/chat.postMessage")[-1].body["text"].startswith("[WARNING] Rolled back")


def test_a_failing_slack_never_fails_or_holds_a_deployment(drill: Drill, standin: StandIn, mailbox: Mailbox) -> None:
    _notify(drill, standin, mailbox, retry="{attempts: 2, backoff: 0.1s, drain: 3s}")
    standin.fail(500, '{"ok": false, "error": "internal_error"}', times=1000)
    started = time.monotonic()
    r = drill.run("deploy", "course", "--version", "v1")
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    assert "warning: notification deploy.started to slack failed after 2 attempt(s)" in r.stderr
    assert "(recorded in the ledger)" in r.stderr
    assert took < 60
    status = json.loads(drill.run("status", "-o", "json").stdout)["services"][0]
    assert status["version"] == "v1"
    failed = [row for row in _notifications(drill) if row["outcome"] == "failed"]
    assert failed and all(row["attempts"] == 2 and "internal_error" in row["error"] for row in failed)
