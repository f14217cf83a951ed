"""Alertmanager payloads to notifications, the ledger's metrics, log merging, dashboards, sparklines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from coursectl.domain import LedgerEvent, LockInfo, LogLine
from coursectl.errors import UsageError
from coursectl.observability import ledger_metrics as lm
from coursectl.observability.alerts import notifications
from coursectl.observability.dashboards import DASHBOARDS, dashboard, dashboards, deployment_annotations
from coursectl.observability.logs import human_line, merge
from coursectl.render.charts import sparkline
from tests.conftest import REPO

DATA = REPO / "tests" / "data"
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def test_a_real_firing_payload_becomes_one_critical_alert_notification() -> None:
    body = json.loads((DATA / "alertmanager" / "webhook-firing.json").read_text())
    [n] = notifications(body, dashboard_url="http://127.0.0.1:3000")
    assert (n.event, n.severity, n.environment, n.service, n.outcome) == (
        "alert.firing",
        "critical",
        "prod",
        "payment",
        "firing",
    )
    assert n.title == "FIRING: ServiceDown (payment)"
    assert n.summary == "payment (blue) is down in prod"
    assert n.details == ("Prometheus has not been able to scrape 127.0.0.1:8003 for 1m.",)
    assert ("Slot", "blue") in n.fields and ("Instance", "127.0.0.1:8003") in n.fields
    assert [name for name, _ in n.links] == ["Prometheus", "Alertmanager", "Dashboards"]
    assert n.key == "alert-fae8f1aadf01d678" and n.family == "alert"


def test_the_resolved_payload_keeps_the_key_and_says_how_long_it_lasted() -> None:
    firing = notifications(json.loads((DATA / "alertmanager" / "webhook-firing.json").read_text()))[0]
    body = json.loads((DATA / "alertmanager" / "webhook-resolved.json").read_text())
    [n] = notifications(body)
    assert (n.event, n.severity, n.outcome) == ("alert.resolved", "info", "resolved")
    assert n.key == firing.key
    assert n.duration_s is not None and 0 <= n.duration_s < 60


@pytest.mark.parametrize(
    ("labels", "receiver", "severity"),
    [
        ({"severity": "page"}, None, "critical"),
        ({"severity": "ticket"}, None, "warning"),
        ({}, "coursectl-info", "info"),
        ({"severity": "weird"}, "other", "warning"),
    ],
)
def test_severity_from_label_alias_or_receiver(
    labels: dict[str, str], receiver: str | None, severity: str
) -> None:
    body = {"receiver": receiver, "alerts": [{"status": "firing", "labels": {"alertname": "X", **labels}}]}
    assert notifications(body)[0].severity == severity


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "expected a JSON object"),
        ({"alerts": {}}, "'alerts' must be a list"),
        ({"alerts": [{"status": "firing"}]}, "alerts[0] needs a 'labels' object"),
        ({"alerts": [{"status": "odd", "labels": {}}]}, "alerts[0].status"),
    ],
)
def test_a_payload_that_is_not_alertmanagers_is_a_usage_error(body: object, message: str) -> None:
    with pytest.raises(UsageError) as info:
        notifications(body)  # type: ignore[arg-type]
    assert message in info.value.message


def _backup(
    source: str, outcome: str, minutes: int, action: str | None = "create", kind: str = "backup"
) -> LedgerEvent:
    details = {"action": action} if action else {}
    return LedgerEvent(
        kind=kind,
        actor="cron",
        service=source,
        outcome=outcome,
        details=details,
        time=T0 + timedelta(minutes=minutes),
    )


def test_backup_metrics_from_issue16_events_and_dotted_kinds() -> None:
    events = [
        _backup("mariadb", "succeeded", 0),
        _backup("mariadb", "failed", 10),
        _backup("ledger", "succeeded", 5),
        _backup("ledger", "succeeded", 7, action="verify"),
        _backup("jenkins", "", 3, action=None, kind="backup.failed"),
        _backup("jenkins", "", 1, action=None, kind="backup.succeeded"),
    ]
    text = lm.exposition(lm.backup_families(events))
    t0 = int(T0.timestamp())
    assert f'coursectl_backup_last_success_timestamp_seconds{{source="mariadb"}} {t0}\n' in text
    assert f'coursectl_backup_last_attempt_timestamp_seconds{{source="mariadb"}} {t0 + 600}\n' in text
    assert 'coursectl_backup_last_attempt_succeeded{source="mariadb"} 0\n' in text
    assert 'coursectl_backup_last_attempt_succeeded{source="ledger"} 1\n' in text
    assert 'coursectl_backup_last_attempt_succeeded{source="jenkins"} 0\n' in text
    assert f'coursectl_backup_last_success_timestamp_seconds{{source="jenkins"}} {t0 + 60}\n' in text
    assert 'coursectl_backup_last_verify_succeeded{source="ledger"} 1\n' in text
    assert "# TYPE coursectl_backup_last_attempt_succeeded gauge" in text


def test_lock_and_deployment_metrics_escape_label_values() -> None:
    lock = LockInfo("prod", "payment", 'jen"kins', "deploy", T0, T0 + timedelta(minutes=30), "tok")
    text = lm.exposition(
        lm.lock_families([lock])
        + lm.deployment_families(
            [
                (1, "payment", "prod", "1.0", "abc", "succeeded", T0.timestamp()),
                (2, "payment", "prod", "1.1", "abd", "rolled_back", T0.timestamp() + 60),
                (3, "payment", "prod", "1.2", "abe", "succeeded", T0.timestamp() + 120),
            ]
        )
    )
    assert (
        f'coursectl_deploy_lock_expiry_timestamp_seconds{{environment="prod",service="payment",'
        f'holder="jen\\"kins"}} {int(T0.timestamp()) + 1800}\n'
    ) in text
    assert 'coursectl_deployments_total{environment="prod",service="payment",status="succeeded"} 2\n' in text
    assert (
        f'coursectl_last_deployment_timestamp_seconds{{environment="prod",service="payment",version="1.2"}} '
        f"{int(T0.timestamp()) + 120}\n"
    ) in text


def test_ledger_exposition_reads_a_real_ledger(tmp_path: Path) -> None:
    from coursectl.ledger import open_ledger

    ledger = open_ledger(tmp_path)
    try:
        ledger.record(_backup("mariadb", "succeeded", 0))
        text = lm.ledger_exposition(ledger, now=T0 + timedelta(hours=1))
    finally:
        ledger.close()
    assert 'coursectl_backup_last_attempt_succeeded{source="mariadb"} 1' in text
    assert f"coursectl_ledger_exporter_time_seconds {int(T0.timestamp()) + 3600}" in text


def test_logs_of_many_slots_merge_by_time_and_follow_one_request() -> None:
    def line(svc: str, slot: str, sec: int, rid: str, msg: str) -> LogLine:
        ts = (T0 + timedelta(seconds=sec)).isoformat().replace("+00:00", "Z")
        return LogLine(
            svc,
            slot,
            None,
            json.dumps(
                {"ts": ts, "level": "info", "service": svc, "request_id": rid, "message": msg, "status": 200}
            ),
        )

    lines = [
        line("payment", "blue", 3, "r1", "charged"),
        line("enrollment", "green", 1, "r1", "enrol asked"),
        line("enrollment", "green", 5, "r2", "other"),
        LogLine("payment", "blue", T0, "uvicorn started"),
        line("enrollment", "blue", 4, "r1", "enrolled"),
    ]
    followed = merge(lines, request_id="r1")
    assert [(r.service, r.slot, r.message) for r in followed] == [
        ("enrollment", "green", "enrol asked"),
        ("payment", "blue", "charged"),
        ("enrollment", "blue", "enrolled"),
    ]
    everything = merge(lines)
    assert [r.message for r in everything][0] == "uvicorn started" and everything[0].level == "raw"
    assert [r.message for r in merge(lines, since=T0 + timedelta(seconds=4))] == ["enrolled", "other"]
    assert [r.message for r in merge(lines, limit=2)] == ["enrolled", "other"]
    assert human_line(followed[1]) == "2026-11-30T06:00:03.000Z payment/blue INFO [r1] charged status=200"


def test_dashboards_validate_against_grafanas_published_schema() -> None:
    schema = json.loads((DATA / "grafana-dashboard.jsonschema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    docs = dashboards("prod")
    assert sorted(docs) == [
        "coursectl-application.json",
        "coursectl-business.json",
        "coursectl-infrastructure.json",
        "coursectl-jenkins.json",
    ]
    for name, doc in docs.items():
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == [], name
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids))
        assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in doc["panels"])
        assert doc["annotations"]["list"][1]["expr"].startswith("changes(coursectl_last_deployment_timestamp")
    broken = dashboard(DASHBOARDS[0], environment="prod")
    broken["panels"][0]["gridPos"]["w"] = 30
    broken["panels"][1]["colour"] = "red"
    assert len(list(validator.iter_errors(broken))) == 2  # the schema does catch mistakes


def test_deployment_annotations_for_grafanas_api() -> None:
    rows = [(7, "payment", "prod", "1.4.2", "0123456789abcdef", "succeeded", 1_700_000_000.5)]
    [a, b] = deployment_annotations(rows, dashboard_uids=["d1", "d2"])
    assert a == {
        "dashboardUID": "d1",
        "time": 1_700_000_000_500,
        "timeEnd": 1_700_000_000_500,
        "tags": ["deployment", "service:payment", "environment:prod", "status:succeeded", "ledger:7"],
        "text": "payment 1.4.2 → prod: succeeded (0123456789ab)",
    }
    assert b["dashboardUID"] == "d2"


def test_sparkline_draws_points_gaps_and_the_target() -> None:
    svg = sparkline([("w1", 0.99), ("w2", None), ("w3", 0.9995), ("w4", 0.999)], title="Uptime", target=0.999)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="point"') == 3 and svg.count("<polyline") == 1  # w3-w4 joined; w1 alone
    assert 'class="target"' in svg and "<script" not in svg
    assert "no data" in sparkline([("w1", None)], title="x")
