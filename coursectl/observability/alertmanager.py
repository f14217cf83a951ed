"""Pure builders of the Alertmanager and blackbox exporter configurations, and of the edge's probe targets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from coursectl.domain import NOTIFY_SEVERITIES
from coursectl.observability.slo import promql_duration
from coursectl.render.templates import render

RECEIVER_PATH = "/alertmanager"
"""Where ``coursectl observability receive`` takes Alertmanager's webhook posts."""

REPEAT_FACTOR = {"critical": 1.0, "warning": 3.0, "info": 6.0}
"""Critical alerts repeat at ``repeat_interval``; warnings and infos less often."""


def render_alertmanager(routing: Any, receiver_url: str) -> str:
    """alertmanager.yml: one webhook receiver per severity (all to coursectl's receiver, which routes them to
    Slack / e-mail through the notification routes); critical inhibits warning for the same alert and SLO."""
    base = receiver_url.rstrip("/")
    receivers = [
        {"name": f"coursectl-{sev}", "url": f"{base}{RECEIVER_PATH}?severity={sev}"} for sev in NOTIFY_SEVERITIES
    ]
    routes = [
        {
            "severity": sev,
            "receiver": f"coursectl-{sev}",
            "repeat_interval": promql_duration(routing.repeat_interval * REPEAT_FACTOR[sev]),
        }
        for sev in reversed(NOTIFY_SEVERITIES)
    ]
    return render(
        "observability/alertmanager.yml.j2",
        group_wait=promql_duration(routing.group_wait),
        group_interval=promql_duration(routing.group_interval),
        repeat_interval=promql_duration(routing.repeat_interval),
        receivers=receivers,
        routes=routes,
    )


def render_blackbox(timeout: float = 5.0) -> str:
    """blackbox.yml: ``http_2xx`` (a GET answered 2xx, IPv4) for the edge's public routes."""
    return render("observability/blackbox.yml.j2", timeout=promql_duration(timeout))


def probe_targets(edges: Mapping[str, str], paths: Iterable[str]) -> list[dict[str, Any]]:
    """file_sd groups for the blackbox job: every probe path through every environment's edge
    (``{"local": "127.0.0.1:8080"}``)."""
    wanted = list(paths)
    return [
        {"targets": [f"http://{bind}{path}" for path in wanted], "labels": {"environment": env, "service": "edge"}}
        for env, bind in sorted(edges.items())
        if wanted
    ]


def edge_targets(environment: str, stats_bind: str) -> list[dict[str, Any]]:
    """file_sd group for the edge's own metrics (HAProxy's Prometheus exporter on ``stats_bind``)."""
    return [{"targets": [stats_bind], "labels": {"environment": environment, "service": "edge", "slot": "edge"}}]
