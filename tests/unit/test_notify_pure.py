"""Pure parts of notifications: routing, the rollout watcher's decisions, the Slack and e-mail builders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from coursectl.config.models import NotificationsConfig
from coursectl.domain import Notification
from coursectl.notify.messages import backup_notification, links_for, rollout_notification
from coursectl.notify.routing import Route, channels_for, routes_from_config
from coursectl.notify.watcher import Seen, events_for
from coursectl.render.notification_email import build_email, subject_of
from coursectl.render.slack_blocks import build_message, check_limits, escape
from coursectl.rollout.state import RolloutState
from coursectl.rollout.steps import SetWeight

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _n(event: str, severity: str = "info", environment: str | None = "prod") -> Notification:
    return Notification(event=event, title=event, severity=severity, environment=environment, time=T0)


ROUTES = [
    Route(("build",), (), "info", ("slack",)),
    Route(("deploy", "rollback", "gate"), ("staging", "prod"), "info", ("slack",)),
    Route(("deploy", "rollback"), ("prod",), "warning", ("email",)),
    Route(("backup.failed",), (), "info", ("email", "slack")),
]


@pytest.mark.parametrize(
    ("event", "severity", "environment", "expected"),
    [
        ("build", "critical", None, ["slack"]),
        ("deploy.started", "info", "prod", ["slack"]),
        ("deploy.failed", "critical", "prod", ["slack", "email"]),
        ("deploy.aborted", "warning", "staging", ["slack"]),
        ("deploy.failed", "critical", "local", []),
        ("rollback", "warning", "prod", ["slack", "email"]),
        ("gate.blocked", "warning", "prod", ["slack"]),
        ("backup.failed", "critical", None, ["email", "slack"]),
        ("backup.succeeded", "info", None, []),
        ("lock.takeover", "warning", "prod", []),
        ("deploy.progress", "info", "prod", []),  # only ever updates a message already posted
    ],
)
def test_routing_by_event_family_environment_and_severity(
    event: str, severity: str, environment: str | None, expected: list[str]
) -> None:
    assert channels_for(_n(event, severity, environment), ROUTES) == expected


def test_default_route_sends_the_configured_events_to_every_configured_channel() -> None:
    cfg = NotificationsConfig.model_validate(
        {"slack": {"webhook": {"env": "HOOK"}}, "email": {"recipients": ["a@b.org"]}, "events": ["deploy"]}
    )
    routes = routes_from_config(cfg)
    assert channels_for(_n("deploy.failed"), routes) == ["slack", "email"]
    assert channels_for(_n("backup.failed"), routes) == []
    assert routes_from_config(NotificationsConfig()) == []  # no channel configured: nothing to route to


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"routes": [{"events": ["deploy"], "to": ["slack"]}]}, "slack, which is not configured"),
        ({"routes": [{"events": ["deploi"], "to": ["console"]}]}, "unknown event(s) 'deploi'"),
        ({"slack": {"webhook": {"env": "A"}, "token": {"env": "B"}}}, "a webhook or a token, not both"),
        ({"slack": {"channel": "#x"}}, "needs a webhook or a token"),
        ({"slack": {"webhook": "https://hooks.example/secret"}}, "secrets are never written"),
        ({"email": {"recipients": ["not-an-address"]}}, "is not an e-mail address"),
        ({"email": {"starttls": True, "ssl": True}}, "exclude each other"),
    ],
)
def test_bad_notification_config_is_refused_with_what_was_expected(config: dict, message: str) -> None:  # type: ignore[type-arg]
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        NotificationsConfig.model_validate(config)
    assert message in str(caught.value)


def S(phase: str, step: int = 0, weight: int = 0, promoted: bool = False, paused: bool = False) -> Seen:
    return Seen(phase, step, weight, promoted, paused)


@pytest.mark.parametrize(
    ("previous", "current", "kind", "events"),
    [
        (None, S("progressing"), "deploy", ["deploy.started"]),
        (None, S("progressing", 3), "deploy", ["deploy.progress"]),  # resumed in another process
        (S("progressing"), S("progressing"), "deploy", []),
        (S("progressing"), S("progressing", 1), "deploy", ["deploy.progress"]),
        (S("progressing", 2), S("progressing", 2, 20), "deploy", ["deploy.progress"]),
        (S("progressing", 2, 20), S("paused", 2, 20, paused=True), "deploy", ["gate.blocked"]),
        (S("progressing", 2, 20), S("paused", 2, 20), "deploy", ["deploy.progress"]),  # paused by hand
        (S("progressing", 4, 100, True), S("succeeded", 6, 100, True), "deploy", ["deploy.promoted"]),
        (S("aborting"), S("aborted"), "deploy", ["deploy.aborted"]),
        (S("aborting"), S("failed"), "deploy", ["deploy.failed"]),
        (None, S("failed"), "deploy", ["deploy.failed"]),  # superseded by a rollback
        (S("succeeded"), S("succeeded"), "deploy", []),
        (S("progressing"), S("succeeded"), "rollback", ["rollback"]),
        (S("progressing"), S("failed"), "rollback", ["rollback"]),
    ],
)
def test_watcher_events_for_each_change(previous: Seen | None, current: Seen, kind: str, events: list[str]) -> None:
    assert events_for(previous, current, kind) == events


def _state(**kw: object) -> RolloutState:
    base: dict[str, object] = dict(
        environment="prod", service="course", strategy="canary", version="v2", new_slot="canary",
        stable_slot="stable", steps=[SetWeight(20)], id="r1", stable_version="v1",
        git_commit="0123456789abcdef", actor="alice", started_at="2026-11-30T10:00:00Z",
    )
    base.update(kw)
    return RolloutState(**base)  # type: ignore[arg-type]


def test_rollout_notification_shows_weights_commit_actor_and_duration() -> None:
    state = _state(phase="aborted", weight=0, finished_at="2026-11-30T10:02:05Z", message="analysis failed: x",
                   measurements=[{"metric": "error-rate", "slot": "canary", "value": 0.3, "verdict": "failed",
                                  "reason": "0.3 > 0.01"}])
    n = rollout_notification(state, "deploy.aborted", now=T0, links=[("Pipeline", "https://ci/job/1/")])
    assert (n.title, n.severity, n.key, n.final, n.duration_s) == (
        "Deployment aborted and rolled back", "warning", "r1", True, 125.0)
    fields = dict(n.fields)
    assert fields["Weights"] == "stable 100% (v1) · canary 0% (v2)"
    assert fields["Commit"] == "0123456789ab" and fields["Actor"] == "alice" and fields["Version"] == "v1 → v2"
    assert n.details == ("analysis failed: x", "error-rate on canary: 0.3 — failed (0.3 > 0.01)")


def test_slack_message_exactly() -> None:
    n = Notification(event="deploy.promoted", title="Deployment promoted", environment="prod", service="course",
                     version="v2", summary="course v2 is live in prod", fields=(("Strategy", "canary"),),
                     links=(("Pipeline", "https://ci/job/7/"),), key="r1", duration_s=65, time=T0)
    assert build_message(n) == {
        "text": "[INFO] Deployment promoted — course@v2 in prod — course v2 is live in prod — rollout r1",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "course@v2", "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": ":white_check_mark: *Deployment promoted* in"
                                                                   " *prod*\ncourse v2 is live in prod"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Strategy*\ncanary"}]},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Pipeline"},
                                              "url": "https://ci/job/7/"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "info"},
                                             {"type": "mrkdwn", "text": "rollout `r1`"},
                                             {"type": "mrkdwn", "text": "duration 1 min 05 s"},
                                             {"type": "mrkdwn", "text": "2026-11-30 10:00:00 UTC"}]},
        ],
    }


def test_slack_text_is_escaped() -> None:
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    n = Notification(event="gate.blocked", title="x", summary="<!channel> & <https://evil|click>", time=T0)
    text = build_message(n)["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


_texts = hs.text(min_size=0, max_size=3000)


@settings(max_examples=60, deadline=None)
@given(
    fields=hs.lists(hs.tuples(hs.text(max_size=50), _texts), max_size=40),
    details=hs.lists(_texts, max_size=80),
    links=hs.lists(hs.tuples(hs.text(min_size=1, max_size=200), hs.just("https://x.org/" + "p" * 10)), max_size=40),
    title=hs.text(max_size=400),
    service=hs.none() | hs.text(min_size=1, max_size=300),
)
def test_slack_messages_always_keep_slacks_limits(fields, details, links, title, service) -> None:  # type: ignore[no-untyped-def]
    n = Notification(event="deploy.failed", title=title, service=service, version="v" * 200,
                     fields=tuple(fields), details=tuple(details), links=tuple(links), time=T0)
    message = build_message(n)
    assert check_limits(message) == []
    assert message["blocks"][0]["type"] == "header" and message["blocks"][-1]["type"] == "context"


def test_email_has_a_one_line_subject_and_escaped_html() -> None:
    n = backup_notification(succeeded=False, source="mariadb <course>", error="disk full\nat /backups", now=T0)
    body = build_email(n)
    assert body.subject == "[coursectl] CRITICAL Backup of mariadb <course> failed"
    assert "disk full" in body.text and "Source:          mariadb <course>" in body.text
    assert "mariadb &lt;course&gt;" in body.html and "<course>" not in body.html
    assert "\n" not in subject_of(Notification(event="build", title="a\nb", time=T0))


def test_links_take_the_pipeline_from_jenkins_and_fill_placeholders() -> None:
    links = links_for([("Dashboard", "https://grafana/d/x?s={service}&e={environment}"), ("Bad", "javascript:x")],
                      {"BUILD_URL": "https://jenkins/job/cp/42/"}, service="course", environment="prod")
    assert links == (("Pipeline", "https://jenkins/job/cp/42/"), ("Dashboard", "https://grafana/d/x?s=course&e=prod"))
