"""Pure builder of the four Grafana dashboards (classic JSON model, schemaVersion 39) from Python data.

Jenkins overview, application performance, infrastructure and business metrics. Every panel is a ``PanelSpec``
(title, PromQL queries, where its series come from), so tests can run each query against a real Prometheus.
Deployments appear as annotations: live from the ledger exporter's ``coursectl_last_deployment_timestamp_seconds``
(a change of it is a deployment), and as a file of the ledger's deployments for Grafana's annotations API.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
ENV = 'environment=~"$environment"'
SVC = 'service=~"$service"'
_5XX = 'status=~"5.."'
_BUCKET = "http_request_duration_seconds_bucket"
_NET = 'job="node", device!="lo"'


@dataclass(frozen=True)
class PanelSpec:
    """One panel: its queries (``(expr, legend)``), the kind of panel, and where its series come from:
    ``platform`` (the services), ``edge`` (HAProxy), ``host`` (node exporter), ``probe`` (blackbox),
    ``ledger`` (coursectl's exporter), ``slo`` (coursectl's recording rules), ``jenkins`` (Jenkins' Prometheus
    plugin, not in the sandbox), ``rabbitmq`` (RabbitMQ's prometheus plugin)."""

    title: str
    queries: tuple[tuple[str, str], ...]
    source: str
    kind: str = "timeseries"
    unit: str = "short"
    description: str = ""
    width: int = 12


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    panels: tuple[PanelSpec, ...]
    variables: tuple[str, ...] = ("environment", "service")


def _rate(metric: str, extra: str = "") -> str:
    sel = ", ".join(x for x in ('job="coursectl"', ENV, SVC, extra) if x)
    return f"rate({metric}{{{sel}}}[$__rate_interval])"


APPLICATION = DashboardSpec(
    uid="coursectl-application",
    title="Course platform — application performance",
    description="Response times, throughput and error rates of every service, the edge, and the SLOs.",
    tags=("course-platform", "coursectl", "application"),
    panels=(
        PanelSpec(
            "Requests per second by service",
            ((f"sum by (service) ({_rate('http_requests_total')})", "{{service}}"),),
            "platform",
            unit="reqps",
        ),
        PanelSpec(
            "Error ratio (5xx) by service",
            (
                (
                    f"sum by (service) ({_rate('http_requests_total', _5XX)})\n/\n"
                    f"sum by (service) ({_rate('http_requests_total')})",
                    "{{service}}",
                ),
            ),
            "platform",
            unit="percentunit",
        ),
        PanelSpec(
            "p95 latency by service",
            (
                (
                    f"histogram_quantile(0.95, sum by (service, le) ({_rate(_BUCKET)}))",
                    "{{service}}",
                ),
            ),
            "platform",
            unit="s",
        ),
        PanelSpec(
            "p50 latency by service",
            (
                (
                    f"histogram_quantile(0.5, sum by (service, le) ({_rate(_BUCKET)}))",
                    "{{service}}",
                ),
            ),
            "platform",
            unit="s",
        ),
        PanelSpec(
            "Requests by slot and version",
            (
                (
                    f"sum by (service, slot, version) ({_rate('http_requests_total')})",
                    "{{service}} {{slot}} {{version}}",
                ),
            ),
            "platform",
            unit="reqps",
            description="Blue-green and canary traffic: who answers now.",
        ),
        PanelSpec(
            "Edge responses by class",
            (
                (
                    'sum by (code) (rate(haproxy_frontend_http_responses_total{job="coursectl", service="edge", '
                    f'proxy="fe_edge", {ENV}}}[$__rate_interval]))',
                    "{{code}}",
                ),
            ),
            "edge",
            unit="reqps",
        ),
        PanelSpec(
            "SLO error ratio (1 h) against the budget",
            ((f"slo:sli_error:ratio_rate1h{{{ENV}}} / on (slo) group_left slo:error_budget:ratio", "{{slo}}"),),
            "slo",
            unit="short",
            description="1 = burning exactly the budget; 14.4 pages.",
        ),
        PanelSpec(
            "Error budget left (30 d)",
            (
                (
                    f"1 - (avg_over_time(slo:sli_error:ratio_rate5m{{{ENV}}}[30d])"
                    " / on (slo) group_left slo:error_budget:ratio)",
                    "{{slo}}",
                ),
            ),
            "slo",
            kind="stat",
            unit="percentunit",
        ),
        PanelSpec(
            "Faults injected (drills)",
            ((f"sum by (service, kind) ({_rate('faults_injected_total')})", "{{service}} {{kind}}"),),
            "drill",
            unit="reqps",
            description="FAULT_ERROR_RATE / FAULT_LATENCY_MS at work; empty when off.",
        ),
    ),
)

INFRASTRUCTURE = DashboardSpec(
    uid="coursectl-infrastructure",
    title="Course platform — infrastructure",
    description="CPU, memory, disk and network of the hosts (node exporter), targets up, edge probes.",
    tags=("course-platform", "coursectl", "infrastructure"),
    variables=("environment",),
    panels=(
        PanelSpec(
            "CPU busy",
            (
                (
                    '1 - avg by (instance) (rate(node_cpu_seconds_total{job="node", mode="idle"}'
                    "[$__rate_interval]))",
                    "{{instance}}",
                ),
            ),
            "host",
            unit="percentunit",
        ),
        PanelSpec(
            "Memory available",
            (
                (
                    'node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"}',
                    "{{instance}}",
                ),
            ),
            "host",
            unit="percentunit",
        ),
        PanelSpec(
            "Disk space free",
            (
                (
                    'node_filesystem_avail_bytes{job="node", fstype!~"tmpfs|overlay|squashfs"}'
                    ' / node_filesystem_size_bytes{job="node", fstype!~"tmpfs|overlay|squashfs"}',
                    "{{mountpoint}}",
                ),
            ),
            "host",
            unit="percentunit",
        ),
        PanelSpec(
            "Network received / sent",
            (
                (
                    f"sum by (instance) (rate(node_network_receive_bytes_total{{{_NET}}}[$__rate_interval]))",
                    "received {{instance}}",
                ),
                (
                    f"sum by (instance) (rate(node_network_transmit_bytes_total{{{_NET}}}[$__rate_interval]))",
                    "sent {{instance}}",
                ),
            ),
            "host",
            unit="Bps",
        ),
        PanelSpec("Load average (1 min)", (('node_load1{job="node"}', "{{instance}}"),), "host"),
        PanelSpec(
            "Targets up",
            (('sum by (job) (up{job=~"coursectl|node|alertmanager|coursectl-receiver|blackbox"})', "{{job}}"),),
            "host",
        ),
        PanelSpec(
            "Edge routes as users see them (blackbox)",
            ((f'probe_success{{job="blackbox", {ENV}}}', "{{instance}}"),),
            "probe",
            unit="percentunit",
        ),
        PanelSpec(
            "Probe duration",
            ((f'probe_duration_seconds{{job="blackbox", {ENV}}}', "{{instance}}"),),
            "probe",
            unit="s",
        ),
        PanelSpec(
            "Uptime (30 d, blackbox)",
            ((f'avg(avg_over_time(probe_success{{job="blackbox", {ENV}}}[30d]))', "uptime"),),
            "probe",
            kind="stat",
            unit="percentunit",
        ),
        PanelSpec(
            "RabbitMQ messages ready",
            (("sum by (queue) (rabbitmq_queue_messages_ready)", "{{queue}}"),),
            "rabbitmq",
        ),
    ),
)

BUSINESS = DashboardSpec(
    uid="coursectl-business",
    title="Course platform — business metrics",
    description="Registrations, logins, course enrolments, payments and e-mails, from the services' counters.",
    tags=("course-platform", "coursectl", "business"),
    variables=("environment",),
    panels=(
        PanelSpec(
            "Registrations per hour",
            ((f'sum(increase(registrations_total{{job="coursectl", {ENV}}}[1h]))', "registrations"),),
            "platform",
        ),
        PanelSpec(
            "Logins by outcome",
            ((f'sum by (outcome) (increase(logins_total{{job="coursectl", {ENV}}}[1h]))', "{{outcome}}"),),
            "platform",
        ),
        PanelSpec(
            "Enrolments per hour",
            ((f'sum(increase(enrollments_total{{job="coursectl", {ENV}}}[1h]))', "enrolments"),),
            "platform",
        ),
        PanelSpec(
            "Payments by status",
            ((f'sum by (status) (increase(payments_total{{job="coursectl", {ENV}}}[1h]))', "{{status}}"),),
            "platform",
        ),
        PanelSpec(
            "Revenue per hour (cents)",
            (
                (
                    f'sum by (currency) (increase(payment_amount_cents_total{{job="coursectl", {ENV}}}[1h]))',
                    "{{currency}}",
                ),
            ),
            "platform",
        ),
        PanelSpec(
            "E-mails by outcome",
            ((f'sum by (outcome) (increase(emails_total{{job="coursectl", {ENV}}}[1h]))', "{{outcome}}"),),
            "platform",
        ),
        PanelSpec(
            "Deployments (ledger)",
            ((f"sum by (service, status) (coursectl_deployments_total{{{ENV}}})", "{{service}} {{status}}"),),
            "ledger",
            kind="stat",
        ),
    ),
)

JENKINS = DashboardSpec(
    uid="coursectl-jenkins",
    title="Course platform — Jenkins overview",
    description="Build performance, queue and executors (Jenkins' Prometheus metrics plugin, job "
    "'jenkins'), and what coursectl recorded: deployments, backups, deploy locks.",
    tags=("course-platform", "coursectl", "jenkins"),
    variables=("environment",),
    panels=(
        PanelSpec(
            "Build duration (p50 of the last builds)",
            (('default_jenkins_builds_duration_milliseconds_summary{quantile="0.5"} / 1000', "{{jenkins_job}}"),),
            "jenkins",
            unit="s",
        ),
        PanelSpec(
            "Last build result (0 success .. 4 not built)",
            (("default_jenkins_builds_last_build_result_ordinal", "{{jenkins_job}}"),),
            "jenkins",
        ),
        PanelSpec("Build queue", (("jenkins_queue_size_value", "queued"),), "jenkins"),
        PanelSpec(
            "Executors in use / available",
            (("jenkins_executor_in_use_value", "in use"), ("jenkins_executor_count_value", "total")),
            "jenkins",
        ),
        PanelSpec("Nodes online", (("jenkins_node_online_value", "online"),), "jenkins"),
        PanelSpec(
            "Newest good backup age",
            (("time() - coursectl_backup_last_success_timestamp_seconds", "{{source}}"),),
            "ledger",
            kind="stat",
            unit="s",
        ),
        PanelSpec(
            "Deploy locks held",
            ((f"coursectl_deploy_lock_expiry_timestamp_seconds{{{ENV}}} - time()", "{{service}} {{holder}}"),),
            "ledger",
            unit="s",
            description="Seconds until each lock expires; negative = stale.",
        ),
    ),
)

DASHBOARDS: tuple[DashboardSpec, ...] = (JENKINS, APPLICATION, INFRASTRUCTURE, BUSINESS)


def _variable(name: str, default_env: str) -> dict[str, Any]:
    if name == "environment":
        return {
            "type": "query",
            "name": "environment",
            "label": "Environment",
            "datasource": DATASOURCE,
            "query": 'label_values(up{job="coursectl"}, environment)',
            "refresh": 1,
            "multi": False,
            "includeAll": False,
            "current": {"text": default_env, "value": default_env},
        }
    return {
        "type": "query",
        "name": "service",
        "label": "Service",
        "datasource": DATASOURCE,
        "query": 'label_values(http_requests_total{job="coursectl", environment=~"$environment"}, service)',
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".+",
        "current": {"text": "All", "value": "$__all"},
    }


def _panel(spec: PanelSpec, pid: int, x: int, y: int) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "type": spec.kind,
        "id": pid,
        "title": spec.title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": spec.width, "x": x, "y": y},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                "range": spec.kind != "stat",
                "instant": spec.kind == "stat",
            }
            for i, (expr, legend) in enumerate(spec.queries)
        ],
        "fieldConfig": {"defaults": {"unit": spec.unit}, "overrides": []},
        "options": {"legend": {"showLegend": True, "displayMode": "list", "placement": "bottom"}}
        if spec.kind == "timeseries"
        else {"reduceOptions": {"calcs": ["lastNotNull"]}},
    }
    if spec.description:
        panel["description"] = spec.description
    return panel


def deploy_annotation() -> dict[str, Any]:
    """Deployments as annotations, from the ledger exporter's series (a change = a deployment finished)."""
    return {
        "name": "Deployments (coursectl ledger)",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "#8F3BB8",
        "expr": f"changes(coursectl_last_deployment_timestamp_seconds{{{ENV}}}[2m]) > 0",
        "step": "60s",
        "titleFormat": "Deployed {{service}} {{version}}",
        "textFormat": "{{environment}}",
        "tagKeys": "service,environment",
    }


def dashboard(spec: DashboardSpec, *, environment: str, refresh: str = "30s") -> dict[str, Any]:
    """The Grafana dashboard JSON of ``spec``."""
    panels = []
    x = y = 0
    for i, p in enumerate(spec.panels, start=1):
        if x + p.width > 24:
            x, y = 0, y + 8
        panels.append(_panel(p, i, x, y))
        x += p.width
    variables = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Prometheus",
            "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"},
        }
    ]
    variables += [_variable(v, environment) for v in spec.variables]
    return {
        "uid": spec.uid,
        "title": spec.title,
        "description": spec.description,
        "tags": list(spec.tags),
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [
            {
                "title": "Course platform",
                "type": "dashboards",
                "tags": ["course-platform"],
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables},
        "annotations": {
            "list": [
                {
                    "name": "Annotations & Alerts",
                    "builtIn": 1,
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "type": "dashboard",
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                },
                deploy_annotation(),
            ]
        },
        "panels": panels,
    }


def deployment_annotations(
    rows: Iterable[Sequence[Any]], *, dashboard_uids: Sequence[str]
) -> list[dict[str, Any]]:
    """Grafana annotations API bodies (``POST /api/annotations``) for the ledger's deployment rows (id, service,
    environment, version, commit, status, finished_at, ...): one per deployment and dashboard."""
    out = []
    for row in rows:
        event_id, service, environment, version, commit, status, finished = row[:7]
        millis = int(round(float(finished) * 1000))
        text = f"{service} {version or '?'} → {environment}: {status}" + (
            f" ({str(commit)[:12]})" if commit else ""
        )
        for uid in dashboard_uids:
            out.append(
                {
                    "dashboardUID": uid,
                    "time": millis,
                    "timeEnd": millis,
                    "tags": [
                        "deployment",
                        f"service:{service}",
                        f"environment:{environment}",
                        f"status:{status}",
                        f"ledger:{event_id}",
                    ],
                    "text": text,
                }
            )
    return out


def dashboards(environment: str) -> dict[str, dict[str, Any]]:
    """File name → dashboard JSON for the four dashboards."""
    return {f"{spec.uid}.json": dashboard(spec, environment=environment) for spec in DASHBOARDS}
