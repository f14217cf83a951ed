"""`coursectl notify test|build|routes`: try the channels, announce a CI build, show where events go."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Annotated

import typer

from coursectl.cli._app import state_of
from coursectl.cli._options import EnvOption, OutputOption

app = typer.Typer(
    help="Notifications: test the channels, announce a CI build, show the routing.", no_args_is_help=True
)


class Channel(StrEnum):
    slack = "slack"
    email = "email"
    console = "console"


class BuildResult(StrEnum):
    SUCCESS = "SUCCESS"
    UNSTABLE = "UNSTABLE"
    FAILURE = "FAILURE"
    ABORTED = "ABORTED"
    NOT_BUILT = "NOT_BUILT"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


def _deliveries_text(deliveries: list) -> str:  # type: ignore[type-arg]
    lines = []
    for d in deliveries:
        note = f" — {d.error}" if d.error else ""
        lines.append(f"{d.channel}: {d.status} ({d.event}, {d.attempts} attempt(s)){note}")
    return "\n".join(lines) or "no channel took it (no route)"


@app.command("test")
def test(
    ctx: typer.Context,
    channel: Annotated[
        Channel | None,
        typer.Option("--channel", help="Only this channel (default: every configured one).", show_default=False),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Send a test message now and wait for it: exit 0 sent, 4 not usable here (secret missing, token or
    channel refused), 5 unreachable. Secrets are never printed."""
    from coursectl.api.notify import send_test
    from coursectl.domain import current_actor
    from coursectl.wiring import notification_links

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    cfg = loaded.config.notifications
    service = state.notifications()
    if channel is not None:
        channels = [channel.value]
    else:
        channels = [c for c in ("slack", "email") if getattr(cfg, c) is not None]
    links = notification_links(loaded.config)(None, loaded.env_name)
    out.progress(f"sending a test notification to {', '.join(channels) or '(no channel)'}")
    deliveries = send_test(service, channels, actor=current_actor(), environment=loaded.env_name, links=links)
    out.result(
        {"deliveries": [d.to_dict() for d in deliveries]},
        human=_deliveries_text(deliveries),
        ids=[d.ref or d.channel for d in deliveries],
    )


@app.command("build")
def build(
    ctx: typer.Context,
    result: Annotated[
        BuildResult,
        typer.Option(
            "--result", case_sensitive=False, help="The build's result (Jenkins' currentBuild.currentResult)."
        ),
    ],
    job: Annotated[
        str | None, typer.Option("--job", help="Job name (default: JOB_NAME).", show_default=False)
    ] = None,
    number: Annotated[
        str | None, typer.Option("--number", help="Build number (default: BUILD_NUMBER).", show_default=False)
    ] = None,
    commit: Annotated[
        str | None, typer.Option("--commit", help="Commit (default: GIT_COMMIT).", show_default=False)
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option("--branch", help="Branch (default: BRANCH_NAME or GIT_BRANCH).", show_default=False),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", metavar="SECONDS", min=0, show_default=False, help="How long the build took."),
    ] = None,
    message: Annotated[str, typer.Option("--message", help="One line to show (default: the result).")] = "",
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Announce a CI build's result through the routes of the `build` event; waits (bounded) for delivery and
    reports failures as warnings — a notification never fails the build (exit 0)."""
    from coursectl.api.notify import notify_build
    from coursectl.domain import current_actor
    from coursectl.wiring import notification_links

    state = state_of(ctx)
    out = state.out(output)
    loaded = state.config(env)
    service = state.notifications()
    environ = os.environ
    note = notify_build(
        service,
        result=result.value,
        job=job or environ.get("JOB_NAME"),
        number=number or environ.get("BUILD_NUMBER"),
        commit=commit or environ.get("GIT_COMMIT"),
        branch=branch or environ.get("BRANCH_NAME") or environ.get("GIT_BRANCH"),
        actor=current_actor(),
        duration_s=duration,
        message=message,
        links=notification_links(loaded.config)(None, loaded.env_name),
    )
    deliveries = service.drain()
    for d in deliveries:
        if not d.ok and d.status != "skipped":
            out.warn(f"notification build to {d.channel} failed after {d.attempts} attempt(s): {d.error}")
    out.result(
        {"notification": note.to_dict(), "deliveries": [d.to_dict() for d in deliveries]},
        human=_deliveries_text(deliveries),
        ids=[d.channel for d in deliveries if d.ok],
    )


@app.command("routes")
def routes(
    ctx: typer.Context,
    event: Annotated[str, typer.Option("--event", help="An event, e.g. deploy.failed or backup.failed.")],
    severity: Annotated[
        Severity | None,
        typer.Option("--severity", help="Severity (default: the event's usual one).", show_default=False),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
) -> None:
    """Which channels an event goes to in an environment (the routing, without sending anything)."""
    from coursectl.domain import NOTIFY_EVENTS, Notification
    from coursectl.errors import UsageError
    from coursectl.notify.routing import channels_for, routes_from_config

    state = state_of(ctx)
    out = state.out(output)
    if event not in NOTIFY_EVENTS:
        raise UsageError(f"--event {event!r} is not an event", hint=f"events: {', '.join(NOTIFY_EVENTS)}")
    loaded = state.config(env)
    usual = {
        "deploy.aborted": "warning",
        "deploy.failed": "critical",
        "rollback": "warning",
        "gate.blocked": "warning",
        "backup.failed": "critical",
        "lock.takeover": "warning",
    }
    level = severity.value if severity else usual.get(event, "info")
    probe = Notification(event=event, title=event, severity=level, environment=loaded.env_name)
    channels = channels_for(probe, routes_from_config(loaded.config.notifications))
    data = {"event": event, "severity": level, "environment": loaded.env_name, "channels": channels}
    out.result(
        data, human=f"{event} ({level}) in {loaded.env_name}: {', '.join(channels) or 'no channel'}", ids=channels
    )
