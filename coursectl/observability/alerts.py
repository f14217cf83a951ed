"""Pure: Alertmanager webhook payloads (version 4) turned into coursectl notifications.

One notification per alert in the payload: ``alert.firing`` or ``alert.resolved``, with the alert's
``severity`` label (critical / warning / info; Alertmanager's receiver name ``coursectl-<severity>`` when the
label is missing), its environment and service labels, summary and description, and links to the alert's
source (Prometheus graph) and to Alertmanager. The key (the alert's fingerprint) lets a bot-token Slack channel
update the firing message in place when it resolves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from coursectl.domain import NOTIFY_SEVERITIES, Notification
from coursectl.errors import UsageError

_SEVERITY_ALIASES = {
    "page": "critical",
    "error": "critical",
    "ticket": "warning",
    "warn": "warning",
    "none": "info",
}
_SHOWN_LABELS = ("slo", "burn", "slot", "instance", "source", "queue", "holder")


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def severity_of(labels: Mapping[str, str], receiver: str | None) -> str:
    value = str(labels.get("severity", "")).lower()
    value = _SEVERITY_ALIASES.get(value, value)
    if value in NOTIFY_SEVERITIES:
        return value
    if receiver and receiver.startswith("coursectl-") and receiver[len("coursectl-") :] in NOTIFY_SEVERITIES:
        return receiver[len("coursectl-") :]
    return "warning"


def parse_payload(body: Any) -> Mapping[str, Any]:
    """Check the shape of a webhook payload; a bad one is a UsageError naming what is wrong."""
    if not isinstance(body, Mapping):
        raise UsageError("Alertmanager payload: expected a JSON object")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise UsageError("Alertmanager payload: 'alerts' must be a list")
    for i, a in enumerate(alerts):
        if not isinstance(a, Mapping) or not isinstance(a.get("labels"), Mapping):
            raise UsageError(f"Alertmanager payload: alerts[{i}] needs a 'labels' object")
        if a.get("status") not in ("firing", "resolved"):
            raise UsageError(f"Alertmanager payload: alerts[{i}].status must be firing or resolved")
    return body


def notifications(
    body: Mapping[str, Any], *, dashboard_url: str | None = None, now: datetime | None = None
) -> list[Notification]:
    """The notifications of one webhook payload (see the module docstring)."""
    payload = parse_payload(body)
    receiver = payload.get("receiver")
    external = str(payload.get("externalURL") or "")
    out = []
    for a in payload["alerts"]:
        labels = {str(k): str(v) for k, v in a["labels"].items()}
        ann = {str(k): str(v) for k, v in (a.get("annotations") or {}).items()}
        firing = a["status"] == "firing"
        name = labels.get("alertname", "alert")
        severity = severity_of(labels, receiver if isinstance(receiver, str) else None)
        env, service = labels.get("environment"), labels.get("service")
        started, ended = _time(a.get("startsAt")), _time(a.get("endsAt"))
        duration = (ended - started).total_seconds() if (started and ended and not firing) else None
        fields: list[tuple[str, str]] = [("Alert", name), ("Severity", severity)]
        if env:
            fields.append(("Environment", env))
        if service:
            fields.append(("Service", service))
        fields += [(k.replace("_", " ").capitalize(), labels[k]) for k in _SHOWN_LABELS if k in labels]
        if started:
            fields.append(("Since", started.strftime("%Y-%m-%d %H:%M:%S UTC")))
        links: list[tuple[str, str]] = []
        if isinstance(a.get("generatorURL"), str) and a["generatorURL"].startswith(("http://", "https://")):
            links.append(("Prometheus", a["generatorURL"]))
        if external.startswith(("http://", "https://")):
            links.append(("Alertmanager", external))
        if dashboard_url and dashboard_url.startswith(("http://", "https://")):
            links.append(("Dashboards", dashboard_url))
        summary = ann.get("summary") or name
        extra: dict[str, Any] = {"time": now} if now else {}
        out.append(
            Notification(
                event="alert.firing" if firing else "alert.resolved",
                title=f"{'FIRING' if firing else 'RESOLVED'}: {name}" + (f" ({service})" if service else ""),
                severity=severity if firing else "info",
                environment=env,
                service=service,
                outcome="firing" if firing else "resolved",
                summary=summary,
                fields=tuple(fields[:10]),
                details=tuple(x for x in (ann.get("description"),) if x),
                links=tuple(links),
                key=f"alert-{a.get('fingerprint') or name}",
                final=True,
                actor="alertmanager",
                duration_s=duration,
                **extra,
            )
        )
    return out


def summarize(deliveries: Sequence[Any]) -> dict[str, Any]:
    """What the receiver answers Alertmanager with (and logs): deliveries by outcome."""
    counts: dict[str, int] = {}
    for d in deliveries:
        counts[d.status] = counts.get(d.status, 0) + 1
    return {"deliveries": counts}
