"""`coursectl notify test|build|routes` against the local Slack stand-in and a real aiosmtpd server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import MINIMAL_CONFIG, needs_fixtures
from tests.support.servers import free_port
from tests.support.slack_standin import SlackServer, StandIn
from tests.support.smtp_server import Mailbox, SmtpServer

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with SlackServer() as s:
        yield s


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    with SmtpServer(tmp_path) as box:
        yield box


def _config(tmp_path: Path, notifications: str) -> Path:
    path = tmp_path / "coursectl.yaml"
    path.write_text(MINIMAL_CONFIG + notifications, encoding="utf-8")
    return path


@needs_fixtures
def test_notify_test_posts_with_the_bot_token_and_never_prints_it(
    cli: Cli, tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", standin.token)
    cfg = _config(tmp_path, f"""notifications:
  slack: {{token: {{env: SLACK_BOT_TOKEN}}, channel: "#releases", base_url: "{standin.api_url}"}}
""")
    code, out, err = cli("-c", str(cfg), "notify", "test", "--channel", "slack", "-o", "json")
    assert code == 0, err
    [delivery] = json.loads(out)["deliveries"]
    assert delivery["status"] == "sent" and delivery["ref"].startswith("C0STANDIN:")
    [call] = standin.calls("/api/chat.postMessage")
    assert call.headers["Authorization"] == f"Bearer {standin.token}"
    assert call.body["channel"] == "#releases" and call.body["text"].startswith("[INFO] coursectl test notification")
    assert call.body["blocks"][0]["type"] == "header"
    assert standin.token not in out + err
    code, out, _ = cli("-c", str(cfg), "history", "-k", "notification", "-o", "json")
    assert standin.token not in out and '"channel": "slack"' in out


def test_notify_test_through_a_webhook_and_its_errors(
    cli: Cli, tmp_path: Path, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, "notifications:\n  slack: {webhook: {env: HOOK_URL}}\n  retry: {attempts: 2, backoff: 0s}\n")
    code, _, err = cli("-c", str(cfg), "notify", "test")
    assert code == 4 and "secret env:HOOK_URL is not set" in err
    monkeypatch.setenv("HOOK_URL", standin.webhook_url)
    code, out, err = cli("-c", str(cfg), "notify", "test")
    assert code == 0, err
    assert "slack: sent" in out
    [call] = standin.calls(standin.webhook_path)
    assert call.body["text"] and call.body["blocks"]
    standin.fail(500, "rollup_error", times=2)
    code, _, err = cli("-c", str(cfg), "notify", "test")
    assert code == 5 and "rollup_error" in err and standin.webhook_path not in err
    standin.fail(404, "channel_not_found")
    code, _, err = cli("-c", str(cfg), "notify", "test")
    assert code == 4 and "channel_not_found" in err
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{free_port()}/services/T1/B1/topsecret")
    code, _, err = cli("-c", str(cfg), "notify", "test")
    assert code == 5 and "topsecret" not in err and "unreachable" in err


def test_notify_test_sends_an_email_with_both_parts(cli: Cli, tmp_path: Path, mailbox: Mailbox) -> None:
    cfg = _config(tmp_path, f"""notifications:
  email: {{host: 127.0.0.1, port: {mailbox.port}, sender: releases@example.org, recipients: [oncall@example.org]}}
""")
    code, out, err = cli("-c", str(cfg), "notify", "test", "--channel", "email")
    assert code == 0, err
    [got] = mailbox.wait(1)
    msg = got.message
    assert msg["Subject"] == "[coursectl] INFO coursectl test notification"
    assert msg["From"] == "releases@example.org" and got.rcpt == ["oncall@example.org"]
    assert msg.get_body(("plain",)).get_content().startswith("coursectl test notification")
    assert "<h2" in msg.get_body(("html",)).get_content()


def test_notify_build_routes_by_event_and_never_fails_the_build(
    cli: Cli, tmp_path: Path, mailbox: Mailbox, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_URL", standin.webhook_url)
    monkeypatch.setenv("BUILD_URL", "https://jenkins.example.org/job/cp/42/")
    monkeypatch.setenv("JOB_NAME", "course-platform")
    monkeypatch.setenv("BUILD_NUMBER", "42")
    cfg = _config(tmp_path, f"""notifications:
  slack: {{webhook: {{env: HOOK_URL}}}}
  email: {{host: 127.0.0.1, port: {mailbox.port}, recipients: [oncall@example.org]}}
  routes:
    - {{events: [build], to: [slack]}}
    - {{events: [build], severity: critical, to: [email]}}
  retry: {{attempts: 2, backoff: 0s, drain: 5s}}
""")
    code, out, err = cli("-c", str(cfg), "notify", "build", "--result", "SUCCESS", "-o", "json")
    assert code == 0, err
    assert [d["channel"] for d in json.loads(out)["deliveries"]] == ["slack"]
    body = standin.calls(standin.webhook_path)[0].body
    assert body["blocks"][0]["text"]["text"] == "course-platform #42: SUCCESS"
    actions = [b for b in body["blocks"] if b["type"] == "actions"][0]
    assert actions["elements"][0]["url"] == "https://jenkins.example.org/job/cp/42/"
    code, out, err = cli("-c", str(cfg), "notify", "build", "--result", "FAILURE", "-o", "json")
    assert code == 0, err
    assert sorted(d["channel"] for d in json.loads(out)["deliveries"]) == ["email", "slack"]
    assert mailbox.wait(1)[0].message["Subject"].startswith("[coursectl] CRITICAL course-platform #42: FAILURE")
    standin.fail(500, "rollup_error", times=5)
    code, out, err = cli("-c", str(cfg), "notify", "build", "--result", "UNSTABLE")
    assert code == 0  # a channel that fails never fails the build
    assert "warning: notification build to slack failed after 2 attempt(s)" in err


def test_notify_routes_shows_where_an_event_goes(cli: Cli, tmp_path: Path) -> None:
    cfg = _config(tmp_path, """notifications:
  routes:
    - {events: [deploy], environments: [prod], severity: warning, to: [console]}
""")
    code, out, _ = cli("-c", str(cfg), "notify", "routes", "--event", "deploy.failed", "--env", "prod", "-o", "json")
    assert code == 0 and json.loads(out)["channels"] == ["console"]
    code, out, _ = cli("-c", str(cfg), "notify", "routes", "--event", "deploy.started", "--env", "prod", "-o", "json")
    assert json.loads(out)["channels"] == []
    code, _, err = cli("-c", str(cfg), "notify", "routes", "--event", "deploy.exploded")
    assert code == 2 and "is not an event" in err
