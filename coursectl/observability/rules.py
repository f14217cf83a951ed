"""Pure builder of the Prometheus rule groups: SLO recording rules, burn-rate alerts and the plain alerts.

The groups are data (``RuleGroup``); ``render_rules`` writes them through ``templates/observability/rules.yml.j2``.
Every alert carries ``severity`` (``critical``, ``warning`` or ``info``: coursectl's notification severities,
which Alertmanager routes on) and a ``summary`` / ``description`` annotation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from coursectl.errors import ConfigError, ConfigProblem
from coursectl.observability.slo import BURN_WINDOWS, RATE_WINDOWS, SLO, number, promql_duration, record_name
from coursectl.render.templates import render

BURN_ALERT = "ErrorBudgetBurn"


@dataclass(frozen=True)
class Rule:
    """A recording rule (``record``) or an alerting rule (``alert``)."""

    expr: str
    record: str | None = None
    alert: str | None = None
    for_: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record} if self.record else {"alert": self.alert}
        out["expr"] = self.expr
        if self.alert and self.for_:
            out["for"] = promql_duration(self.for_)
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class RuleGroup:
    name: str
    rules: tuple[Rule, ...]
    interval: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = promql_duration(self.interval)
        out["rules"] = [r.to_dict() for r in self.rules]
        return out


def slos_from_config(config: Any) -> list[SLO]:
    """The configuration's ``slos`` as SLO values, each checked: every burn-rate alert must be able to fire."""
    out = []
    problems = []
    for i, s in enumerate(config.slos):
        slo = SLO(s.name, s.service, s.sli, s.objective, s.window, s.threshold, s.description)
        for bw in BURN_WINDOWS:
            if bw.factor(slo.window) * slo.budget >= 1.0:
                problems.append(
                    ConfigProblem(
                        file="",
                        path=f"slos.{i}.objective",
                        message=f"{s.objective:g} leaves too large a budget for burn-rate alerting: {bw.name} "
                        "would "
                        f"need an error ratio above {bw.factor(slo.window) * slo.budget:.0%} (use at least 0.94)",
                    )
                )
                break
        out.append(slo)
    if problems:
        raise ConfigError(problems)
    return out


def slo_recording_group(slo: SLO) -> RuleGroup:
    """The error ratio of ``slo`` over every burn-rate window, plus its objective and budget as series."""
    labels = slo.labels()
    rules = [
        Rule(expr=slo.error_ratio(promql_duration(w)), record=record_name(w), labels=labels) for w in RATE_WINDOWS
    ]
    rules.append(Rule(expr=f"vector({number(slo.objective)})", record="slo:objective:ratio", labels=labels))
    rules.append(Rule(expr=f"vector({number(slo.budget)})", record="slo:error_budget:ratio", labels=labels))
    return RuleGroup(f"slo:{slo.name}:recording", tuple(rules))


def burn_threshold(slo: SLO, factor: float) -> str:
    return f"({number(factor)} * {number(slo.budget)})"


def slo_alert_group(slo: SLO) -> RuleGroup:
    """The four multiwindow burn-rate alerts of ``slo`` (two page, two ticket)."""
    rules = []
    what = f"{slo.objective * 100:.10g} % {slo.sli}"
    for bw in BURN_WINDOWS:
        factor = bw.factor(slo.window)
        long_w, short_w = promql_duration(bw.long_window), promql_duration(bw.short_window)
        sel = f'{{slo="{slo.name}"}}'
        expr = (
            f"{record_name(bw.long_window)}{sel} > {burn_threshold(slo, factor)}\n"
            f"and\n"
            f"{record_name(bw.short_window)}{sel} > {burn_threshold(slo, factor)}"
        )
        rules.append(
            Rule(
                expr=expr,
                alert=BURN_ALERT,
                labels={
                    **slo.labels(),
                    "severity": bw.severity,
                    "burn": bw.name,
                    "long_window": long_w,
                    "short_window": short_w,
                    "burn_rate": number(factor),
                },
                annotations={
                    "summary": f"{slo.name}: error budget burning {number(factor)}x too fast ({bw.kind})",
                    "description": (
                        f"The {what} objective of {slo.service} over {promql_duration(slo.window)} "
                        f"(environment {{{{ $labels.environment }}}}): errors over the last {long_w} and "
                        f"{short_w} "
                        f"exceed {number(factor)} times the budget of {number(slo.budget)}; at this rate "
                        f"{bw.budget_share:.0%} of the budget is gone within {long_w}."
                    ),
                },
            )
        )
    return RuleGroup(f"slo:{slo.name}:alerts", tuple(rules))


def slo_group(slo: SLO) -> RuleGroup:
    """One group per SLO, recording rules first: rules of a group run in order at the same instant, so the
    alerts always read this evaluation's ratios (separate groups run independently and could read a stale one)."""
    return RuleGroup(f"slo:{slo.name}", slo_recording_group(slo).rules + slo_alert_group(slo).rules)


def _service_alerts(t: Any) -> list[Rule]:
    by = "sum by (environment, service)"
    return [
        Rule(
            alert="ServiceDown",
            expr='up{job="coursectl"} == 0',
            for_=t.service_down_for,
            labels={"severity": "critical"},
            annotations={
                "summary": "{{ $labels.service }} ({{ $labels.slot }}) is down in {{ $labels.environment }}",
                "description": "Prometheus has not been able to scrape {{ $labels.instance }} "
                f"for {promql_duration(t.service_down_for)}.",
            },
        ),
        Rule(
            alert="HighErrorRate",
            expr=(
                f'{by} (rate(http_requests_total{{job="coursectl", status=~"5.."}}[5m]))\n/\n'
                f'{by} (rate(http_requests_total{{job="coursectl"}}[5m]))\n> {number(t.error_rate)}'
            ),
            for_=t.error_rate_for,
            labels={"severity": "critical"},
            annotations={
                "summary": "{{ $labels.service }} answers {{ $value | humanizePercentage }} of requests with 5xx",
                "description": f"More than {t.error_rate:.1%} of the requests to {{{{ $labels.service }}}} in "
                "{{ $labels.environment }} failed over the last 5 minutes.",
            },
        ),
        Rule(
            alert="HighLatency",
            expr=(
                "histogram_quantile(0.95,\n  sum by (environment, service, le) "
                '(rate(http_request_duration_seconds_bucket{job="coursectl"}[5m]))\n)'
                f" > {number(t.latency_p95)}"
            ),
            for_=t.latency_for,
            labels={"severity": "warning"},
            annotations={
                "summary": "{{ $labels.service }} p95 latency is {{ $value | humanizeDuration }}",
                "description": f"The 95th percentile latency of {{{{ $labels.service }}}} in "
                f"{{{{ $labels.environment }}}} is above {number(t.latency_p95)} s.",
            },
        ),
        Rule(
            alert="EdgeRouteProbeFailed",
            expr='probe_success{job="blackbox"} == 0',
            for_=t.probe_failed_for,
            labels={"severity": "critical"},
            annotations={
                "summary": "users cannot reach {{ $labels.instance }}",
                "description": "The blackbox probe of the public route {{ $labels.instance }} has failed for "
                f"{promql_duration(t.probe_failed_for)}.",
            },
        ),
    ]


def _platform_alerts(t: Any) -> list[Rule]:
    rules = [
        Rule(
            alert="RabbitMQQueueBuildUp",
            expr=f"sum by (vhost, queue) (rabbitmq_queue_messages_ready) > {t.queue_messages}",
            for_=t.queue_for,
            labels={"severity": "warning"},
            annotations={
                "summary": "RabbitMQ queue {{ $labels.queue }} holds {{ $value }} ready messages",
                "description": f"More than {t.queue_messages} messages wait in {{{{ $labels.queue }}}} for "
                f"{promql_duration(t.queue_for)}: its consumer (the notification service) is behind or down.",
            },
        ),
        Rule(
            alert="BackupFailed",
            expr="coursectl_backup_last_attempt_succeeded == 0",
            labels={"severity": "critical"},
            annotations={
                "summary": "the last backup of {{ $labels.source }} failed",
                "description": "coursectl's ledger records the newest backup attempt of {{ $labels.source }} as "
                "failed; see `coursectl history --kind backup`.",
            },
        ),
        Rule(
            alert="BackupMissing",
            expr=f"time() - coursectl_backup_last_success_timestamp_seconds > {number(t.backup_max_age)}",
            labels={"severity": "critical"},
            annotations={
                "summary": "no good backup of {{ $labels.source }} for {{ $value | humanizeDuration }}",
                "description": f"The newest succeeded backup of {{{{ $labels.source }}}} is older than "
                f"{promql_duration(t.backup_max_age)}.",
            },
        ),
    ]
    for source in t.backup_sources:
        rules.append(
            Rule(
                alert="BackupMissing",
                expr=f'absent(coursectl_backup_last_success_timestamp_seconds{{source="{source}"}})',
                for_=600.0,
                labels={"severity": "critical"},
                annotations={
                    "summary": f"{source} has never been backed up",
                    "description": f"The ledger has no succeeded backup of {source}, which must be backed up "
                    "(observability.alerts.backup_sources).",
                },
            )
        )
    rules += [
        Rule(
            alert="DeployLockExpired",
            expr=f"time() - coursectl_deploy_lock_expiry_timestamp_seconds > {number(t.lock_grace)}",
            labels={"severity": "warning"},
            annotations={
                "summary": "the deploy lock of {{ $labels.service }} in {{ $labels.environment }} expired "
                "{{ $value | humanizeDuration }} ago",
                "description": "{{ $labels.holder }} holds a deploy lock past its expiry: the job that took it "
                "probably died. The next rollout takes it over; `coursectl lock list` shows it.",
            },
        ),
        Rule(
            alert="LedgerExporterDown",
            expr='up{job="coursectl-receiver"} == 0',
            for_=300.0,
            labels={"severity": "warning"},
            annotations={
                "summary": "coursectl's receiver and ledger exporter does not answer",
                "description": "Alert notifications and the backup and deploy-lock alerts depend on it.",
            },
        ),
    ]
    return rules


def _host_alerts() -> list[Rule]:
    return [
        Rule(
            alert="HostHighCpu",
            expr='1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.9',
            for_=900.0,
            labels={"severity": "warning"},
            annotations={
                "summary": "CPU of {{ $labels.instance }} busy {{ $value | humanizePercentage }}",
                "description": "More than 90 % CPU for 15 minutes.",
            },
        ),
        Rule(
            alert="HostMemoryLow",
            expr="node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1",
            for_=900.0,
            labels={"severity": "warning"},
            annotations={
                "summary": "{{ $labels.instance }} has {{ $value | humanizePercentage }} memory left",
                "description": "Less than 10 % of memory available for 15 minutes.",
            },
        ),
        Rule(
            alert="HostDiskFilling",
            expr=(
                'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"}\n'
                '/ node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs"} < 0.1'
            ),
            for_=900.0,
            labels={"severity": "warning"},
            annotations={
                "summary": "{{ $labels.mountpoint }} on {{ $labels.instance }} is "
                "{{ $value | humanizePercentage }} free",
                "description": "Less than 10 % disk space left for 15 minutes.",
            },
        ),
    ]


def rule_groups(config: Any) -> list[RuleGroup]:
    """Every rule group of ``config`` (a Config): per SLO a recording and an alert group, then the plain alerts."""
    t = config.observability.alerts
    groups: list[RuleGroup] = []
    for slo in slos_from_config(config):
        groups.append(slo_group(slo))
    groups.append(RuleGroup("coursectl:services", tuple(_service_alerts(t))))
    groups.append(RuleGroup("coursectl:platform", tuple(_platform_alerts(t))))
    groups.append(RuleGroup("coursectl:hosts", tuple(_host_alerts())))
    return groups


def render_rules(groups: Sequence[RuleGroup], *, source: str) -> str:
    """The rule file (YAML) of ``groups``."""
    return render("observability/rules.yml.j2", groups=[g.to_dict() for g in groups], source=source)


def rule_files(groups: Sequence[RuleGroup], *, source: str) -> dict[str, str]:
    """File name → rule file: one per SLO (``slo-<name>.rules.yml``) and ``alerts.rules.yml`` for the rest."""
    files: dict[str, list[RuleGroup]] = {}
    for g in groups:
        name = f"slo-{g.name.split(':')[1]}.rules.yml" if g.name.startswith("slo:") else "alerts.rules.yml"
        files.setdefault(name, []).append(g)
    return {name: render_rules(gs, source=source) for name, gs in files.items()}


def alert_names(groups: Iterable[RuleGroup]) -> list[str]:
    """Every alert name, once, in order."""
    out: list[str] = []
    for g in groups:
        for r in g.rules:
            if r.alert and r.alert not in out:
                out.append(r.alert)
    return out
