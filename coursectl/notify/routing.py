"""Pure routing: which channels a notification goes to, by event (or family), environment and severity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coursectl.domain import Notification, severity_level


@dataclass(frozen=True)
class Route:
    """One routing rule: these events, in these environments (empty: any), at or above this severity, to these
    channels."""

    events: tuple[str, ...] = ("*",)
    environments: tuple[str, ...] = ()
    severity: str = "info"
    to: tuple[str, ...] = ()

    def matches(self, n: Notification) -> bool:
        if not ("*" in self.events or n.event in self.events or n.family in self.events):
            return False
        if self.environments and n.environment not in self.environments:
            return False
        return severity_level(n.severity) >= severity_level(self.severity)


def routes_from_config(config: object) -> list[Route]:
    """The routes of a ``NotificationsConfig``: its ``routes``, else one route of its ``events`` to every channel
    configured (Slack and/or e-mail)."""
    routes = list(getattr(config, "routes", []) or [])
    if routes:
        return [Route(tuple(r.events), tuple(r.environments), str(r.severity), tuple(r.to)) for r in routes]
    channels = tuple(c for c in ("slack", "email") if getattr(config, c, None) is not None)
    return [Route(tuple(getattr(config, "events", ["*"])), (), "info", channels)] if channels else []


def channels_for(n: Notification, routes: Sequence[Route]) -> list[str]:
    """Every channel some route sends ``n`` to, each once, in route order. ``deploy.progress`` is never routed:
    it only updates a message already posted (the dispatcher decides that)."""
    if n.event == "deploy.progress":
        return []
    out: list[str] = []
    for route in routes:
        if route.matches(n):
            out.extend(c for c in route.to if c not in out)
    return out
