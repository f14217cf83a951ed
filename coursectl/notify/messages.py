"""Pure builders of notifications: from a rollout's state, a gate, a backup, a build, a lock take-over."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from coursectl.domain import LedgerEvent, Notification
from coursectl.rollout.state import ABORTED, FAILED, PAUSED, SUCCEEDED, RolloutState

FINAL_EVENTS = ("deploy.promoted", "deploy.aborted", "deploy.failed", "rollback")

_TITLES = {
    "deploy.started": "Deployment started",
    "deploy.progress": "Deployment in progress",
    "deploy.promoted": "Deployment promoted",
    "deploy.aborted": "Deployment aborted and rolled back",
    "deploy.failed": "Deployment failed",
    "gate.blocked": "Gate blocked the change",
}


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def duration_text(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds is None:
        return "-"
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def weights_text(weights: Mapping[str, int], slot_versions: Mapping[str, str | None] | None = None) -> str:
    """``green 90% (v2) · blue 10% (v1)``, heaviest first."""
    versions = slot_versions or {}
    parts = []
    for slot, weight in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])):
        version = versions.get(slot)
        parts.append(f"{slot} {weight}%" + (f" ({version})" if version else ""))
    return " · ".join(parts) or "-"


def final_event(kind: str, phase: str) -> str:
    """The one final event of a rollout that ended in ``phase``."""
    if kind == "rollback":
        return "rollback"
    return {SUCCEEDED: "deploy.promoted", ABORTED: "deploy.aborted", FAILED: "deploy.failed"}[phase]


def _severity(event: str, phase: str) -> str:
    if event == "rollback":
        return "warning" if phase == SUCCEEDED else "critical"
    return {"deploy.aborted": "warning", "deploy.failed": "critical", "gate.blocked": "warning"}.get(event, "info")


def rollout_notification(
    state: RolloutState,
    event: str,
    *,
    now: datetime,
    links: Sequence[tuple[str, str]] = (),
) -> Notification:
    """What a rollout in ``state`` says for ``event`` (started, progress, promoted, aborted, failed, rollback,
    gate.blocked when analysis paused it)."""
    final = event in FINAL_EVENTS
    started = _parse_time(state.started_at)
    ended = _parse_time(state.finished_at) if final else None
    duration = ((ended or now) - started).total_seconds() if started else None
    slot_versions: dict[str, str | None] = {state.new_slot: state.version}
    if state.stable_slot:
        slot_versions[state.stable_slot] = state.stable_version
    if event == "rollback":
        ok = state.phase == SUCCEEDED
        title = "Rolled back" if ok else "Rollback failed"
        outcome = "succeeded" if ok else "failed"
    else:
        title = _TITLES.get(event, event)
        outcome = {SUCCEEDED: "succeeded", ABORTED: "rolled_back", FAILED: "failed"}.get(state.phase, state.phase)
    from_version = state.from_version or state.stable_version
    fields: list[tuple[str, str]] = [
        ("Environment", state.environment),
        ("Strategy", state.strategy),
        ("Weights", weights_text(state.weights(), slot_versions)),
        ("Version", f"{from_version or '(nothing)'} → {state.version}"),
        ("Commit", (state.git_commit or "-")[:12]),
        ("Actor", state.aborted_by or state.actor or "-"),
    ]
    if state.steps:
        fields.append(("Step", f"{min(state.step_index + 1, len(state.steps))} of {len(state.steps)}"))
    if state.analysis:
        a = state.analysis
        fields.append(
            (
                "Analysis",
                f"{a.get('successful', 0)} ok · {a.get('failed', 0)} failed · "
                f"{a.get('inconclusive', 0)} inconclusive · {a.get('errors', 0)} errors",
            )
        )
    details: list[str] = []
    if state.message and (final or state.phase == PAUSED or event == "gate.blocked"):
        details.append(state.message)
    if event in ("deploy.aborted", "deploy.failed", "gate.blocked"):
        for m in state.measurements[-6:]:
            value = m.get("value")
            shown = "no data" if value is None else f"{value:.4g}"
            verdict = f"{m.get('verdict')} ({m.get('reason')})"
            details.append(f"{m.get('metric')} on {m.get('slot')}: {shown} — {verdict}")
    summary = {
        "deploy.started": f"{state.service} {state.version} is rolling out to {state.environment}"
        f" ({state.strategy})",
        "deploy.progress": f"{state.service} {state.version} in {state.environment}: {state.phase}",
        "deploy.promoted": f"{state.service} {state.version} is live in {state.environment}",
        "deploy.aborted": f"{state.service} {state.version} was aborted in {state.environment}; traffic is back on"
        f" {from_version or 'the stable version'}",
        "deploy.failed": f"{state.service} {state.version} failed in {state.environment}: {state.message}",
        "gate.blocked": f"{state.service} {state.version} is paused in {state.environment}: {state.message}",
    }.get(event, "")
    if event == "rollback":
        summary = (
            f"{state.service} rolled back to {state.version} in {state.environment}"
            if state.phase == SUCCEEDED
            else f"rollback of {state.service} to {state.version} in {state.environment} did not finish:"
            f" {state.message}"
        )
    return Notification(
        event=event,
        title=title,
        severity=_severity(event, state.phase),
        environment=state.environment,
        service=state.service,
        version=state.version,
        outcome=outcome,
        summary=summary,
        fields=tuple(fields),
        details=tuple(details),
        links=tuple(links),
        key=state.id,
        final=final,
        actor=state.aborted_by or state.actor or None,
        duration_s=duration,
        time=now,
    )


def gate_notification(
    gate: str,
    message: str,
    *,
    environment: str | None = None,
    service: str | None = None,
    version: str | None = None,
    actor: str | None = None,
    details: Sequence[str] = (),
    links: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> Notification:
    """A gate (scan policy, quality gate, journey, load test) blocked a change."""
    extra: dict[str, Any] = {"time": now} if now else {}
    fields = [("Gate", gate)] + ([("Environment", environment)] if environment else [])
    return Notification(
        event="gate.blocked",
        title=f"{gate} blocked the change",
        severity="warning",
        environment=environment,
        service=service,
        version=version,
        outcome="blocked",
        summary=message,
        fields=tuple(fields + ([("Actor", actor)] if actor else [])),
        details=tuple(details),
        links=tuple(links),
        actor=actor,
        **extra,
    )


def backup_notification(
    *,
    succeeded: bool,
    source: str,
    backup_id: str | None = None,
    store: str | None = None,
    size_bytes: int | None = None,
    duration_s: float | None = None,
    verified: bool | None = None,
    error: str | None = None,
    environment: str | None = None,
    actor: str | None = None,
    links: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> Notification:
    """A backup of ``source`` succeeded (info) or failed (critical)."""
    fields: list[tuple[str, str]] = [("Source", source)]
    if backup_id:
        fields.append(("Backup", backup_id))
    if store:
        fields.append(("Store", store))
    if size_bytes is not None:
        fields.append(("Size", _size(size_bytes)))
    if duration_s is not None:
        fields.append(("Duration", duration_text(duration_s)))
    if verified is not None:
        fields.append(("Verified", "yes (restored and compared)" if verified else "no"))
    if actor:
        fields.append(("Actor", actor))
    extra: dict[str, Any] = {"time": now} if now else {}
    return Notification(
        event="backup.succeeded" if succeeded else "backup.failed",
        title=f"Backup of {source} " + ("succeeded" if succeeded else "failed"),
        severity="info" if succeeded else "critical",
        environment=environment,
        outcome="succeeded" if succeeded else "failed",
        summary=(
            f"backup {backup_id or ''} of {source} is stored".replace("  ", " ")
            if succeeded
            else f"backup of {source} failed: {error or 'unknown error'}"
        ),
        fields=tuple(fields),
        details=(error,) if error and not succeeded else (),
        links=tuple(links),
        actor=actor,
        duration_s=duration_s,
        **extra,
    )


def build_notification(
    *,
    result: str,
    job: str | None = None,
    number: str | None = None,
    commit: str | None = None,
    branch: str | None = None,
    actor: str | None = None,
    duration_s: float | None = None,
    message: str = "",
    links: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> Notification:
    """A CI build ended: SUCCESS (info), UNSTABLE / ABORTED (warning) or FAILURE (critical)."""
    result = result.upper()
    severity = {"SUCCESS": "info", "UNSTABLE": "warning", "ABORTED": "warning", "NOT_BUILT": "info"}.get(
        result, "critical"
    )
    name = " ".join(p for p in (job or "build", f"#{number}" if number else "") if p)
    fields: list[tuple[str, str]] = [("Result", result)]
    if branch:
        fields.append(("Branch", branch))
    if commit:
        fields.append(("Commit", commit[:12]))
    if actor:
        fields.append(("Actor", actor))
    if duration_s is not None:
        fields.append(("Duration", duration_text(duration_s)))
    extra: dict[str, Any] = {"time": now} if now else {}
    return Notification(
        event="build",
        title=f"{name}: {result}",
        severity=severity,
        outcome=result.lower(),
        summary=message or f"{name} finished: {result}",
        fields=tuple(fields),
        links=tuple(links),
        actor=actor,
        duration_s=duration_s,
        **extra,
    )


def lock_takeover_notification(event: LedgerEvent, links: Sequence[tuple[str, str]] = ()) -> Notification:
    """A deploy lock was taken over (recorded by the ledger as ``lock.takeover``)."""
    previous = dict(event.details.get("previous") or {})
    expired = bool(event.details.get("previous_expired"))
    holder = previous.get("holder", "someone")
    return Notification(
        event="lock.takeover",
        title=f"Deploy lock of {event.service} taken over",
        severity="info" if expired else "warning",
        environment=event.environment,
        service=event.service,
        outcome="taken-over",
        summary=f"{event.actor} took over the deploy lock of {event.service} in {event.environment} from {holder}"
        + (" (it had expired)" if expired else " (it was still live)"),
        fields=(
            ("Environment", event.environment or "-"),
            ("New holder", event.actor),
            ("Previous holder", holder),
            ("Previous reason", str(previous.get("reason", "-"))),
        ),
        details=(str(event.details.get("reason", "")),) if event.details.get("reason") else (),
        links=tuple(links),
        actor=event.actor,
        time=event.time,
    )


def probe_notification(
    channel: str | None,
    *,
    actor: str | None,
    environment: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> Notification:
    """What ``coursectl notify test`` sends."""
    return Notification(
        event="test",
        title="coursectl test notification",
        severity="info",
        environment=environment,
        outcome="test",
        summary=f"If you can read this, coursectl reaches {channel or 'every channel'}.",
        fields=(("Sent by", actor or "-"),) + ((("Environment", environment),) if environment else ()),
        links=tuple(links),
        actor=actor,
    )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def links_for(
    configured: Sequence[tuple[str, str]],
    environ: Mapping[str, str],
    *,
    service: str | None = None,
    environment: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """The pipeline's link (Jenkins' ``BUILD_URL``) and the configured links, ``{service}`` and
    ``{environment}`` filled in; links whose URL is not http(s) are dropped."""
    out: list[tuple[str, str]] = []
    if environ.get("BUILD_URL"):
        out.append(("Pipeline", environ["BUILD_URL"]))
    for name, url in configured:
        filled = url.replace("{service}", service or "").replace("{environment}", environment or "")
        out.append((name, filled))
    return tuple((n, u) for n, u in out if u.startswith(("http://", "https://")))
