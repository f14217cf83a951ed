"""The observability stack against the real platform: the six services and the HAProxy edge as processes, the
sandbox's real Prometheus (with the rendered rules), node and blackbox exporters and coursectl's receiver.

* every panel query of the four dashboards runs in Prometheus without error, and the platform's series are found
  (Jenkins and RabbitMQ panels are checked for errors only: neither runs here);
* uptime as users see it: the blackbox exporter probes the edge's public route; `metrics report` takes uptime
  from those probes (and says so), and sees the edge go down;
* `coursectl logs --request-id` follows one enrolment through the enrollment and payment services' logs.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from coursectl.config.loader import load_config
from coursectl.observability.dashboards import DASHBOARDS
from coursectl.sandbox import Sandbox, remove_targets, write_targets
from coursectl.wiring import sandbox_settings
from tests.support.platform import ADMIN, SERVICES, Platform, platform_env, sqlite_urls
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.integration

ENV = "obs"
PORTS = {svc: 27201 + i for i, svc in enumerate(SERVICES)}  # this suite's own range (27000-27999)
SERIES_EXPECTED = {"platform", "edge", "host", "probe", "ledger", "slo"}


@dataclasses.dataclass
class Stack:
    box: Sandbox
    platform: Platform
    config: Path
    request_id: str
    http_get: Any

    def query(self, promql: str, at: float | None = None) -> dict[str, Any]:
        when = f"&time={at}" if at is not None else ""
        status, body = self.http_get(
            f"{self.box.prometheus_url()}/api/v1/query?query={urllib.parse.quote(promql)}{when}"
        )
        assert isinstance(body, dict), body
        body["_status"] = status
        return body


def _config(tmp: Path, box: Sandbox) -> Path:
    s = box.settings
    path = tmp / "coursectl.yaml"
    services = "\n".join(
        f"  {svc}: {{path: platform-services/{svc}, port: {port}}}" for svc, port in PORTS.items()
    )
    path.write_text(f"""
project: obs
services:
{services}
registry: {{url: 127.0.0.1:{s.registry_port}}}
environments:
  {ENV}: {{target: process}}
slos:
  - {{name: edge-availability, service: edge, sli: availability, objective: 0.999}}
  - {{name: course-latency, service: course, sli: latency, objective: 0.99, threshold: 250ms}}
observability:
  probes: [/api/course/courses]
metrics:
  environment: {ENV}
  prometheus: {{url: "http://127.0.0.1:{s.prometheus_port}"}}
sandbox:
  registry_port: {s.registry_port}
  prometheus_port: {s.prometheus_port}
  alertmanager_port: {s.alertmanager_port}
  blackbox_port: {s.blackbox_port}
  node_exporter_port: {s.node_exporter_port}
  receiver_port: {s.receiver_port}
""")
    return path


def _journey(edge_url: str) -> str:
    """Teacher makes a course, a student buys and enrols (with our own request id): business series appear."""
    run = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=edge_url, timeout=10) as edge:

        def login(email: str, password: str) -> dict[str, str]:
            r = edge.post("/api/user/login", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        r = edge.post(
            "/api/user/register", json={"email": f"t-{run}@example.com", "password": "teach-me-123", "name": "T"}
        )
        assert r.status_code == 201, r.text
        admin = login(*ADMIN)
        assert (
            edge.put(
                f"/api/user/users/{r.json()['id']}/role", json={"role": "instructor"}, headers=admin
            ).status_code
            == 200
        )
        teacher = login(f"t-{run}@example.com", "teach-me-123")
        course = edge.post(
            "/api/course/courses",
            headers=teacher,
            json={"title": f"Obs {run}", "description": "d", "price_cents": 4900},
        ).json()
        assert (
            edge.post(
                "/api/user/register",
                json={"email": f"s-{run}@example.com", "password": "learn-me-123", "name": "S"},
            ).status_code
            == 201
        )
        student = login(f"s-{run}@example.com", "learn-me-123")
        paid = edge.post(
            "/api/payment/payments",
            headers={**student, "Idempotency-Key": f"k-{run}"},
            json={
                "course_id": course["id"],
                "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"},
            },
        )
        assert paid.status_code == 201, paid.text
        rid = f"obs-{run}"
        r = edge.post(
            "/api/enrollment/enrollments",
            headers={**student, "X-Request-ID": rid},
            json={"course_id": course["id"], "payment_id": paid.json()["id"]},
        )
        assert r.status_code == 201, r.text
        for _ in range(20):
            assert edge.get("/api/course/courses").status_code == 200
    return rid


@pytest.fixture(scope="module")
def stack(sandbox: Sandbox, http_get: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("obs")
    path = _config(tmp, sandbox)
    wanted = sandbox_settings(load_config(path, environ={}).config, path)
    box = Sandbox(
        sandbox.state_dir,
        dataclasses.replace(
            sandbox.settings,
            rule_files=wanted.rule_files,
            alertmanager_config=wanted.alertmanager_config,
            receiver_argv=wanted.receiver_argv,
        ),
    )
    status = box.up()
    for name in ("prometheus", "alertmanager", "blackbox", "node-exporter", "receiver"):
        assert status.component(name).healthy, status.to_dict()
    from coursectl.domain import LedgerEvent
    from coursectl.ledger import open_ledger
    from coursectl.ledger.jsonl import parse_line, record_to_event

    ledger = open_ledger(sandbox.state_dir)  # what the receiver exports: a backup, a deployment, a held lock
    try:
        ledger.record(
            LedgerEvent(
                kind="backup", actor="test", service="ledger", outcome="succeeded", details={"action": "create"}
            )
        )
        now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        ledger.import_events(
            [
                record_to_event(
                    parse_line(
                        json.dumps(
                            {
                                "kind": "deployment",
                                "service": "course",
                                "environment": ENV,
                                "version": f"1.0.{int(time.time())}",
                                "started_at": now,
                                "finished_at": now,
                                "status": "succeeded",
                            }
                        )
                    )
                )
            ]
        )
        ledger.acquire_lock(ENV, "course", holder="obs-test", reason="observability test", ttl=600, take_over=True)
    finally:
        ledger.close()
    with SmtpServer(tmp) as smtp:
        workdir = tmp / "platform"
        workdir.mkdir()
        env = platform_env(
            workdir,
            PORTS,
            sqlite_urls(workdir),
            {"notification": {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port)}},
        )
        platform = Platform(workdir, env, dict(PORTS)).start()
        try:
            assert platform.edge is not None
            write_targets(
                box.file_sd_dir(),
                "obs-platform",
                [
                    {
                        "targets": [f"127.0.0.1:{port}"],
                        "labels": {"service": svc, "slot": "blue", "environment": ENV, "version": "9.9.9-test"},
                    }
                    for svc, port in PORTS.items()
                ]
                + [
                    {
                        "targets": [f"127.0.0.1:{platform.edge.stats_port}"],
                        "labels": {"service": "edge", "slot": "edge", "environment": ENV},
                    }
                ],
            )
            write_targets(
                box.probes_dir(),
                "obs-edge",
                [
                    {
                        "targets": [f"{platform.edge.url}/api/course/courses"],
                        "labels": {"service": "edge", "environment": ENV},
                    }
                ],
            )
            rid = _journey(platform.edge.url)
            yield Stack(box, platform, path, rid, http_get)
        finally:
            remove_targets(box.file_sd_dir(), "obs-platform")
            remove_targets(box.probes_dir(), "obs-edge")
            platform.stop()


def _concrete(expr: str) -> str:
    return expr.replace("$environment", ENV).replace("$service", ".+").replace("$__rate_interval", "1m")


def test_every_dashboard_query_runs_and_finds_the_platforms_series(stack: Stack) -> None:
    pending: dict[str, tuple[str, str]] = {}
    errors = []
    for dash in DASHBOARDS:
        for panel in dash.panels:
            for expr, _legend in panel.queries:
                body = stack.query(_concrete(expr))
                if body["_status"] != 200 or body.get("status") != "success":
                    errors.append(f"{dash.uid} / {panel.title}: {body.get('error')}")
                elif panel.source in SERIES_EXPECTED:
                    pending[f"{dash.uid} / {panel.title} / {expr[:60]}"] = (_concrete(expr), panel.source)
    assert errors == []
    # series need two scrapes (rates) and a rule evaluation (SLO ratios): look again for up to 90 s
    deadline = time.monotonic() + 90
    while pending and time.monotonic() < deadline:
        for key, (expr, _source) in list(pending.items()):
            if stack.query(expr)["data"]["result"]:
                del pending[key]
        time.sleep(2)
    assert pending == {}, f"no series for: {sorted(pending)}"


def test_the_deploy_annotation_and_ledger_series_come_from_the_receiver(stack: Stack) -> None:
    body = stack.query('coursectl_backup_last_attempt_succeeded{source="ledger"}')
    deadline = time.monotonic() + 30
    while not body["data"]["result"] and time.monotonic() < deadline:
        time.sleep(1)
        body = stack.query('coursectl_backup_last_attempt_succeeded{source="ledger"}')
    assert body["data"]["result"][0]["value"][1] == "1"
    from coursectl.observability.dashboards import deploy_annotation

    assert stack.query(_concrete(deploy_annotation()["expr"]))["status"] == "success"


def test_uptime_comes_from_the_blackbox_probes_and_sees_the_edge_go_down(
    stack: Stack, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadline = time.monotonic() + 60
    while not stack.query(f'probe_success{{job="blackbox", environment="{ENV}"}} == 1')["data"]["result"]:
        assert time.monotonic() < deadline, "the blackbox exporter never probed the edge successfully"
        time.sleep(1)
    started = datetime.now(UTC)
    assert stack.platform.edge is not None
    stack.platform.edge.stop()  # users can no longer reach the platform
    deadline = time.monotonic() + 60
    # a failed probe stored at least a second ago (the report's window ends at the current whole second)
    failed = f'min_over_time(probe_success{{job="blackbox", environment="{ENV}"}}[1m]) == 0'
    while not stack.query(failed, at=int(time.time()) - 1)["data"]["result"]:
        assert time.monotonic() < deadline, "the probe never saw the edge down"
        time.sleep(1)
    monkeypatch.setenv("COURSECTL_STATE_DIR", str(stack.box.state_dir))
    since = max(2, int((datetime.now(UTC) - started + timedelta(minutes=2)).total_seconds() // 60) + 1)
    code, out, err = cli("-c", str(stack.config), "metrics", "report", "--since", f"{since}m", "-f", "json")
    assert code == 0, err
    uptime = next(m for m in json.loads(out)["metrics"] if m["key"] == "uptime")
    assert uptime["source"].startswith("blackbox probes of the edge's public routes"), uptime
    assert 'probe_success{job="blackbox"}' in uptime["source"]
    assert uptime["value"] is not None and 0 < uptime["value"] < 1 and uptime["status"] == "missed", uptime


def test_logs_follow_one_request_through_enrollment_and_payment(stack: Stack, tmp_path: Path) -> None:
    from coursectl.adapters.file_logs import FileLogs
    from coursectl.api.logs import read_logs

    folder = tmp_path / "slots"
    folder.mkdir()
    for svc in SERVICES:  # the process layout: <service>-<slot>.log
        (folder / f"{svc}-blue.log").symlink_to(stack.platform.log(svc))
    records = read_logs(FileLogs(folder), list(SERVICES), request_id=stack.request_id)
    services = {r.service for r in records}
    assert {"enrollment", "payment"} <= services, [r.to_dict() for r in records]
    assert all(r.request_id == stack.request_id for r in records)
    times = [r.time for r in records if r.time]
    assert times == sorted(times)
