"""SLO arithmetic, the rendered rules, the promtool test generator's expectations, Alertmanager routing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coursectl.config import load_config
from coursectl.config.models import AlertmanagerRouting
from coursectl.errors import ConfigError
from coursectl.observability.alertmanager import probe_targets, render_alertmanager
from coursectl.observability.rule_tests import burn_cases, expand, humanize_duration, plain_cases
from coursectl.observability.rules import BURN_ALERT, rule_files, rule_groups, slos_from_config
from coursectl.observability.slo import BURN_WINDOWS, RATE_WINDOWS, SLO, le_label, promql_duration
from tests.conftest import MINIMAL_CONFIG, REPO

DAY = 86400.0


def _config(tmp_path: Path, slos: str, extra: str = "") -> object:
    path = tmp_path / "coursectl.yaml"
    path.write_text(MINIMAL_CONFIG + f"\nslos:\n{slos}\n{extra}", encoding="utf-8")
    return load_config(path, environ={}).config


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (30 * DAY, [14.4, 6.0, 3.0, 1.0]),
        (28 * DAY, [13.44, 5.6, 2.8, 0.933333]),
        (7 * DAY, [3.36, 1.4, 0.7, 0.233333]),
    ],
)
def test_burn_rates_are_the_workbooks_for_thirty_days_and_scale_with_the_window(
    window: float, expected: list[float]
) -> None:
    assert [bw.factor(window) for bw in BURN_WINDOWS] == expected
    assert [
        (bw.name, bw.severity, promql_duration(bw.long_window), promql_duration(bw.short_window))
        for bw in BURN_WINDOWS
    ] == [
        ("page-1h", "critical", "1h", "5m"),
        ("page-6h", "critical", "6h", "30m"),
        ("ticket-1d", "warning", "1d", "2h"),
        ("ticket-3d", "warning", "3d", "6h"),
    ]
    assert [promql_duration(w) for w in RATE_WINDOWS] == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def test_promql_durations_and_le_labels() -> None:
    assert [promql_duration(s) for s in (300, 5400, 90, 86400, 3 * 86400)] == ["5m", "90m", "90s", "1d", "3d"]
    assert [le_label(b) for b in (0.5, 1.0, 0.005, 10.0)] == ["0.5", "1.0", "0.005", "10.0"]


def test_error_ratio_queries_per_sli() -> None:
    avail = SLO("pay", "payment", "availability", 0.999, 30 * DAY)
    assert avail.error_ratio("5m") == (
        'sum by (environment) (rate(http_requests_total{job="coursectl", service="payment", status=~"5.."}[5m]))\n'
        '/\nsum by (environment) (rate(http_requests_total{job="coursectl", service="payment"}[5m]))'
    )
    edge = SLO("edge", "edge", "availability", 0.999, 30 * DAY)
    assert (
        'haproxy_frontend_http_responses_total{job="coursectl", service="edge", proxy="fe_edge", code="5xx"}'
        in (edge.error_ratio("1h"))
    )
    lat = SLO("lat", "course", "latency", 0.99, 30 * DAY, threshold=0.25)
    assert lat.error_ratio("2h") == (
        '1 - (\nsum by (environment) (rate(http_request_duration_seconds_bucket{job="coursectl", '
        'service="course", le="0.25"}[2h]))\n/\n'
        'sum by (environment) (rate(http_request_duration_seconds_count{job="coursectl", service="course"}[2h]))\n)'
    )
    assert lat.budget == 0.01 and avail.budget == 0.001


def test_each_slo_gets_recording_rules_then_four_burn_alerts_in_one_group(tmp_path: Path) -> None:
    config = _config(tmp_path, "  - {name: pay, service: user, sli: availability, objective: 0.999}")
    groups = rule_groups(config)
    slo = groups[0]
    assert slo.name == "slo:pay"
    records = [r.record for r in slo.rules if r.record]
    assert records == [f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")] + [
        "slo:objective:ratio",
        "slo:error_budget:ratio",
    ]
    alerts = [r for r in slo.rules if r.alert]
    assert [r.alert for r in alerts] == [BURN_ALERT] * 4
    assert alerts[0].expr == (
        'slo:sli_error:ratio_rate1h{slo="pay"} > (14.4 * 0.001)\nand\n'
        'slo:sli_error:ratio_rate5m{slo="pay"} > (14.4 * 0.001)'
    )
    assert alerts[3].expr.endswith('slo:sli_error:ratio_rate6h{slo="pay"} > (1 * 0.001)')
    assert [(a.labels["severity"], a.labels["burn_rate"]) for a in alerts] == [
        ("critical", "14.4"),
        ("critical", "6"),
        ("warning", "3"),
        ("warning", "1"),
    ]
    names = [r.alert for g in groups[1:] for r in g.rules]
    for wanted in (
        "ServiceDown",
        "HighErrorRate",
        "HighLatency",
        "RabbitMQQueueBuildUp",
        "BackupFailed",
        "BackupMissing",
        "DeployLockExpired",
        "EdgeRouteProbeFailed",
    ):
        assert wanted in names
    files = rule_files(groups, source="coursectl.yaml")
    assert sorted(files) == ["alerts.rules.yml", "slo-pay.rules.yml"]
    doc = yaml.safe_load(files["slo-pay.rules.yml"])
    assert doc["groups"][0]["rules"][-1]["labels"]["short_window"] == "6h"
    assert doc["groups"][0]["rules"][0]["expr"].strip() == slo.rules[0].expr


def test_thresholds_of_plain_alerts_come_from_the_config(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "  []",
        "observability:\n  alerts: {error_rate: 0.02, service_down_for: 30s, "
        "backup_max_age: 2h, backup_sources: [mariadb]}\n",
    )
    rules = {(r.alert, r.expr): r for g in rule_groups(config) for r in g.rules if r.alert}
    by_name = {a: r for (a, _), r in rules.items()}
    assert by_name["HighErrorRate"].expr.endswith("> 0.02")
    assert by_name["ServiceDown"].for_ == 30.0
    assert any(a == "BackupMissing" and e.endswith("> 7200") for a, e in rules)
    assert any(
        a == "BackupMissing" and e == 'absent(coursectl_backup_last_success_timestamp_seconds{source="mariadb"})'
        for a, e in rules
    )


@pytest.mark.parametrize(
    ("slo", "message"),
    [
        ("  - {name: x, service: nope, sli: availability, objective: 0.99}", "neither a service nor 'edge'"),
        ("  - {name: x, service: user, sli: latency, objective: 0.99, threshold: 300ms}", "not a bucket bound"),
        ("  - {name: x, service: user, sli: latency, objective: 0.99}", "needs a threshold"),
        ("  - {name: x, service: user, sli: availability, objective: 0.99, window: 1d}", "between 7d and 90d"),
        ("  - {name: x, service: user, sli: availability, objective: 1.5}", "less than 1"),
    ],
)
def test_bad_slos_are_config_errors_naming_the_key(tmp_path: Path, slo: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, slo)
    assert info.value.exit_code == 3
    assert message in str(info.value.problems), info.value.problems
    assert any("slos" in str(p) for p in info.value.problems)


def test_an_objective_too_low_for_burn_rate_alerting_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, "  - {name: x, service: user, sli: availability, objective: 0.9}")
    with pytest.raises(ConfigError) as info:
        slos_from_config(config)
    assert "slos.0.objective" in str(info.value.problems[0]) and "page-1h" in info.value.problems[0].message


def test_generated_burn_tests_expect_exactly_the_slower_alerts(tmp_path: Path) -> None:
    config = _config(tmp_path, "  - {name: pay, service: user, sli: availability, objective: 0.999}")
    groups = rule_groups(config)
    burns = [r for r in groups[0].rules if r.alert]
    cases = burn_cases(slos_from_config(config)[0], burns)

    def fired(case: object) -> list[str]:
        return [e["exp_labels"]["burn"] for e in case.expected]  # type: ignore[attr-defined]

    assert [fired(c) for c in cases["page-1h"]] == [
        ["page-6h", "ticket-1d", "ticket-3d"],
        ["page-1h", "page-6h", "ticket-1d", "ticket-3d"],
    ]
    assert [fired(c) for c in cases["ticket-3d"]] == [[], ["ticket-3d"]]
    assert [fired(c) for c in cases["ticket-1d"]] == [["ticket-3d"], ["ticket-1d", "ticket-3d"]]
    silent, firing = cases["page-6h"]
    assert "0.9x" in silent.name and "1.1x" in firing.name
    # 1.1 × 6 × 0.001 of 100,000 requests a minute are errors
    assert silent.series[0] == (
        'http_requests_total{job="coursectl",environment="prod",instance="127.0.0.1:9999",'
        'service="user",route="/x",method="GET",status="500"}',
        "0+540x363",
    )
    assert firing.series[0][1] == "0+660x363" and firing.eval_time == 6 * 3600 + 120


def test_plain_alert_tests_sit_on_both_sides_of_each_threshold() -> None:
    config = load_config(REPO / "coursectl.yaml", environ={}).config
    groups = rule_groups(config)
    cases = plain_cases(groups, config.observability.alerts)
    by_alert: dict[str, list[bool]] = {}
    for c in cases:
        by_alert.setdefault(c.alertname, []).append(bool(c.expected))
    assert by_alert == {
        "ServiceDown": [False, True],
        "HighErrorRate": [False, True],
        "BackupFailed": [False, True],
        "BackupMissing": [False, True],
        "DeployLockExpired": [False, True],
        "RabbitMQQueueBuildUp": [False, True],
    }


def test_annotations_expand_like_prometheus_templates() -> None:
    labels = {"service": "course", "environment": "prod"}
    assert expand("{{ $labels.service }} in {{ $labels.environment }}", labels, None) == "course in prod"
    assert expand("{{ $value | humanizePercentage }}", labels, 0.1) == "10%"
    assert expand("{{ $value | humanizePercentage }}", labels, 0.123456) == "12.35%"
    assert expand("{{ $value }}", labels, 1001.0) == "1001"
    assert [humanize_duration(v) for v in (94200, 3700, 65, 2.425, 0.5, 0)] == [
        "1d 2h 10m 0s",
        "1h 1m 40s",
        "1m 5s",
        "2.425s",
        "500ms",
        "0s",
    ]


def test_alertmanager_routes_each_severity_to_the_coursectl_receiver() -> None:
    routing = AlertmanagerRouting(group_wait=1, group_interval=2, repeat_interval=3600)
    doc = yaml.safe_load(render_alertmanager(routing, "http://127.0.0.1:9097/"))
    assert doc["route"]["group_wait"] == "1s" and doc["route"]["group_interval"] == "2s"
    assert [(r["matchers"], r["receiver"], r["repeat_interval"]) for r in doc["route"]["routes"]] == [
        (['severity="critical"'], "coursectl-critical", "1h"),
        (['severity="warning"'], "coursectl-warning", "3h"),
        (['severity="info"'], "coursectl-info", "6h"),
    ]
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in doc["receivers"]}
    assert urls["coursectl-critical"] == "http://127.0.0.1:9097/alertmanager?severity=critical"
    assert all(r["webhook_configs"][0]["send_resolved"] for r in doc["receivers"])
    assert doc["inhibit_rules"][0]["equal"] == ["alertname", "slo", "service", "environment"]


def test_probe_targets_cover_every_path_through_every_edge() -> None:
    assert probe_targets({"local": "127.0.0.1:8080", "b": "127.0.0.1:8081"}, ["/api/course/courses", "/x"]) == [
        {
            "targets": ["http://127.0.0.1:8081/api/course/courses", "http://127.0.0.1:8081/x"],
            "labels": {"environment": "b", "service": "edge"},
        },
        {
            "targets": ["http://127.0.0.1:8080/api/course/courses", "http://127.0.0.1:8080/x"],
            "labels": {"environment": "local", "service": "edge"},
        },
    ]
    assert probe_targets({"local": "127.0.0.1:8080"}, []) == []
