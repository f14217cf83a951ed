"""Pure generator of promtool unit tests (``promtool test rules``) for the rules of ``observability.rules``.

For every SLO and every burn-rate alert, two tests: errors burning the budget at 0.9 times the alert's rate (it
must not fire) and at 1.1 times (it must). With a steady burn the error ratio is the same over every window, so
the alerts expected to fire are exactly those whose burn rate is below the one fed in; the test lists them all.
The plain alerts get a test on each side of their threshold or ``for`` duration as well. Annotations are
expanded here the way Prometheus' templates do (``$labels``, ``humanizePercentage``, ``humanizeDuration``), since
promtool compares them too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coursectl.observability.rules import BURN_ALERT, Rule, RuleGroup, slos_from_config
from coursectl.observability.slo import BURN_WINDOWS, SLO, le_label, number, promql_duration
from coursectl.render.templates import render

INTERVAL = 60.0  # seconds between samples and between rule evaluations in the tests of the plain alerts
STEP = {"page-1h": 60.0, "page-6h": 60.0, "ticket-1d": 300.0, "ticket-3d": 600.0}
"""Samples and evaluations per burn-rate test: well inside the short window, coarse enough that promtool
evaluates three days of rules in seconds (each test file has one evaluation interval)."""
REQUESTS_PER_MINUTE = 100000.0
ENVIRONMENT = "prod"

_TEMPLATE = re.compile(r"\{\{\s*(\$labels\.(\w+)|\$value(?:\s*\|\s*(\w+))?)\s*\}\}")


def humanize_duration(v: float) -> str:
    """Prometheus' ``humanizeDuration``."""
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return f"{_g4(v)}s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        d = int(abs(v))
        seconds, minutes, hours, days = d % 60, (d // 60) % 60, (d // 3600) % 24, d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(abs(v))}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def _g4(v: float) -> str:
    """Go's ``%.4g``."""
    text = f"{v:.4g}"
    return re.sub(r"e([+-])(\d)$", r"e\g<1>0\2", text)


def expand(template: str, labels: Mapping[str, str], value: float | None) -> str:
    """An annotation as Prometheus renders it for an alert with ``labels`` and ``value``."""

    def one(match: re.Match[str]) -> str:
        if match.group(2):
            return labels.get(match.group(2), "<no value>")
        assert value is not None, "an annotation uses $value but the test gives none"
        fn = match.group(3)
        if fn == "humanizePercentage":
            return f"{_g4(value * 100)}%"
        if fn == "humanizeDuration":
            return humanize_duration(value)
        if fn is None:
            return f"{value:g}" if value != int(value) else str(int(value))
        raise ValueError(f"template function {fn} is not supported by the test generator")

    return _TEMPLATE.sub(one, template)


@dataclass
class Case:
    """One promtool test: input series and the alerts expected at one evaluation time."""

    name: str
    series: list[tuple[str, str]]
    eval_time: float
    alertname: str
    expected: list[dict[str, Any]] = field(default_factory=list)
    interval: float = INTERVAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": promql_duration(self.interval),
            "input_series": [{"series": s, "values": v} for s, v in self.series],
            "alert_rule_test": [
                {
                    "eval_time": promql_duration(self.eval_time),
                    "alertname": self.alertname,
                    "exp_alerts": self.expected,
                }
            ],
        }


def _selector(name: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


def _counter(per_step: float, steps: int) -> str:
    return f"0+{number(per_step)}x{steps}"


def _expected(rule: Rule, labels: Mapping[str, str], value: float | None = None) -> dict[str, Any]:
    all_labels = {**labels, **rule.labels}
    return {
        "exp_labels": dict(sorted(all_labels.items())),
        "exp_annotations": {k: expand(v, all_labels, value) for k, v in rule.annotations.items()},
    }


def slo_series(slo: SLO, error_ratio: float, steps: int, step: float = INTERVAL) -> list[tuple[str, str]]:
    """Counters of a steady error ratio for ``slo``'s SLI, one sample every ``step`` seconds."""
    per_step = REQUESTS_PER_MINUTE * step / 60.0
    bad = per_step * error_ratio
    good = per_step - bad
    env = {"job": "coursectl", "environment": ENVIRONMENT, "instance": "127.0.0.1:9999"}
    if slo.sli == "availability" and slo.service == "edge":
        lab = {**env, "service": "edge", "proxy": "fe_edge"}
        name = "haproxy_frontend_http_responses_total"
        return [
            (_selector(name, {**lab, "code": "5xx"}), _counter(bad, steps)),
            (_selector(name, {**lab, "code": "2xx"}), _counter(good, steps)),
        ]
    service = "course" if slo.service == "edge" else slo.service
    lab = {**env, "service": service, "route": "/x", "method": "GET"}
    if slo.sli == "availability":
        return [
            (_selector("http_requests_total", {**lab, "status": "500"}), _counter(bad, steps)),
            (_selector("http_requests_total", {**lab, "status": "200"}), _counter(good, steps)),
        ]
    assert slo.threshold is not None
    bucket = "http_request_duration_seconds_bucket"
    return [
        (_selector(bucket, {**lab, "le": le_label(slo.threshold)}), _counter(good, steps)),
        (_selector(bucket, {**lab, "le": "+Inf"}), _counter(per_step, steps)),
        (_selector("http_request_duration_seconds_count", lab), _counter(per_step, steps)),
    ]


def burn_cases(slo: SLO, burn_rules: Sequence[Rule]) -> dict[str, list[Case]]:
    """Burn-rate alert name → its two tests for ``slo``: 0.9× its rate (silent) and 1.1× (fires); each test
    lists every burn-rate alert of the SLO that must fire then."""
    out: dict[str, list[Case]] = {}
    out_labels = {**slo.labels(), "environment": ENVIRONMENT}
    for bw in BURN_WINDOWS:
        cases = out.setdefault(bw.name, [])
        factor = bw.factor(slo.window)
        step = STEP[bw.name]
        eval_time = bw.long_window + 2 * step
        steps = int(eval_time // step) + 1
        for multiplier in (0.9, 1.1):
            burn = factor * multiplier
            expected = []
            for other, rule in zip(BURN_WINDOWS, burn_rules, strict=True):
                if burn > other.factor(slo.window):
                    expected.append(_expected(rule, out_labels))
            cases.append(
                Case(
                    name=f"{slo.name}: {bw.name} at {multiplier:g}x its burn rate ({number(burn)}x budget) "
                    f"{'fires' if multiplier > 1 else 'stays silent'}",
                    series=slo_series(slo, burn * slo.budget, steps, step),
                    eval_time=eval_time,
                    alertname=BURN_ALERT,
                    expected=expected,
                    interval=step,
                )
            )
    return out


def _rule(groups: Sequence[RuleGroup], alert: str) -> Rule:
    for g in groups:
        for r in g.rules:
            if r.alert == alert:
                return r
    raise KeyError(alert)


def plain_cases(groups: Sequence[RuleGroup], t: Any) -> list[Case]:
    """Each plain alert on both sides of its threshold (or of its ``for`` duration)."""
    cases: list[Case] = []
    target = {
        "environment": ENVIRONMENT,
        "instance": "127.0.0.1:8002",
        "job": "coursectl",
        "service": "course",
        "slot": "blue",
    }
    down = _rule(groups, "ServiceDown")
    steps = int((t.service_down_for + 10 * INTERVAL) // INTERVAL)
    for at, fires in (
        (max(t.service_down_for - INTERVAL, t.service_down_for / 2), False),
        (t.service_down_for + INTERVAL, True),
    ):
        cases.append(
            Case(
                f"ServiceDown {'fires' if fires else 'waits'} {promql_duration(at)} after the target "
                f"went down (for: {promql_duration(t.service_down_for)})",
                [(_selector("up", target), f"0x{steps}")],
                at,
                "ServiceDown",
                [_expected(down, target)] if fires else [],
            )
        )
    lab = {
        "environment": ENVIRONMENT,
        "instance": "127.0.0.1:8002",
        "job": "coursectl",
        "method": "GET",
        "route": "/x",
        "service": "course",
    }
    high = _rule(groups, "HighErrorRate")
    eval_time = t.error_rate_for + 10 * INTERVAL
    steps = int(eval_time // INTERVAL) + 1
    for multiplier in (0.5, 2.0):
        ratio = min(1.0, t.error_rate * multiplier)
        bad = REQUESTS_PER_MINUTE * ratio
        series = [
            (_selector("http_requests_total", {**lab, "status": "500"}), _counter(bad, steps)),
            (
                _selector("http_requests_total", {**lab, "status": "200"}),
                _counter(REQUESTS_PER_MINUTE - bad, steps),
            ),
        ]
        fires = ratio > t.error_rate
        group = {"environment": ENVIRONMENT, "service": "course"}
        cases.append(
            Case(
                f"HighErrorRate at {multiplier:g}x its threshold {'fires' if fires else 'stays silent'}",
                series,
                eval_time,
                "HighErrorRate",
                [_expected(high, group, ratio)] if fires else [],
            )
        )
    failed = _rule(groups, "BackupFailed")
    for value, fires in ((1, False), (0, True)):
        b = {"instance": "127.0.0.1:9097", "job": "coursectl-receiver", "source": "mariadb"}
        cases.append(
            Case(
                f"BackupFailed {'fires' if fires else 'stays silent'} when the last attempt "
                f"{'failed' if fires else 'succeeded'}",
                [(_selector("coursectl_backup_last_attempt_succeeded", b), f"{value}x5")],
                2 * INTERVAL,
                "BackupFailed",
                [_expected(failed, b)] if fires else [],
            )
        )
    missing = next(r for g in groups for r in g.rules if r.alert == "BackupMissing" and "time()" in r.expr)
    for offset, fires in ((-600.0, False), (600.0, True)):
        b = {"instance": "127.0.0.1:9097", "job": "coursectl-receiver", "source": "mariadb"}
        at = t.backup_max_age + offset
        steps = int(at // INTERVAL) + 2
        cases.append(
            Case(
                f"BackupMissing {'fires' if fires else 'stays silent'} {promql_duration(abs(offset))} "
                f"{'after' if fires else 'before'} the newest good backup is "
                f"{promql_duration(t.backup_max_age)} old",
                [(_selector("coursectl_backup_last_success_timestamp_seconds", b), f"0x{steps}")],
                at,
                "BackupMissing",
                [_expected(missing, b, at)] if fires else [],
            )
        )
    lock = _rule(groups, "DeployLockExpired")
    for offset, fires in ((-60.0, False), (60.0, True)):
        b = {
            "environment": ENVIRONMENT,
            "holder": "jenkins-course-platform-42",
            "instance": "127.0.0.1:9097",
            "job": "coursectl-receiver",
            "service": "payment",
        }
        at = t.lock_grace + offset + 600.0
        steps = int(at // INTERVAL) + 2
        cases.append(
            Case(
                f"DeployLockExpired {'fires' if fires else 'stays silent'} {promql_duration(abs(offset))} "
                f"{'after' if fires else 'before'} the grace of {promql_duration(t.lock_grace)}",
                [(_selector("coursectl_deploy_lock_expiry_timestamp_seconds", b), f"600x{steps}")],
                at,
                "DeployLockExpired",
                [_expected(lock, b, at - 600.0)] if fires else [],
            )
        )
    queue = _rule(groups, "RabbitMQQueueBuildUp")
    eval_time = t.queue_for + 5 * INTERVAL
    steps = int(eval_time // INTERVAL) + 1
    for count, fires in ((t.queue_messages, False), (t.queue_messages + 1, True)):
        q = {"instance": "127.0.0.1:15692", "job": "rabbitmq", "queue": "enrollment.created", "vhost": "/"}
        cases.append(
            Case(
                f"RabbitMQQueueBuildUp with {count} ready messages {'fires' if fires else 'stays silent'}",
                [(_selector("rabbitmq_queue_messages_ready", q), f"{count}x{steps}")],
                eval_time,
                "RabbitMQQueueBuildUp",
                [_expected(queue, {"queue": q["queue"], "vhost": "/"}, float(count))] if fires else [],
            )
        )
    return cases


def test_files(config: Any, groups: Sequence[RuleGroup], *, rules_dir: str = "..") -> dict[str, str]:
    """File name → promtool test file (YAML) for ``groups`` of ``config``; the rule files (see
    ``rules.rule_files``) are in ``rules_dir`` relative to the test files. Per SLO and burn-rate alert one file
    (``slo-<name>-<burn>.test.yml``, its own evaluation interval), and ``alerts.test.yml``."""
    files: dict[str, str] = {}
    by_slo: dict[str, list[Rule]] = {}
    for g in groups:
        for r in g.rules:
            if r.alert == BURN_ALERT:
                by_slo.setdefault(r.labels["slo"], []).append(r)
    for slo in slos_from_config(config):
        rule_file = f"{rules_dir}/slo-{slo.name}.rules.yml"
        for burn, cases in burn_cases(slo, by_slo[slo.name]).items():
            files[f"slo-{slo.name}-{burn}.test.yml"] = render_tests(cases, rule_file, STEP[burn])
    files["alerts.test.yml"] = render_tests(
        plain_cases(groups, config.observability.alerts), f"{rules_dir}/alerts.rules.yml", INTERVAL
    )
    return files


def render_tests(cases: Sequence[Case], rule_file: str, evaluation_interval: float) -> str:
    return render(
        "observability/rule-tests.yml.j2",
        rule_file=rule_file,
        evaluation_interval=promql_duration(evaluation_interval),
        tests=[c.to_dict() for c in cases],
    )
