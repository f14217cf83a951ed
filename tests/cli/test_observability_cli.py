"""`coursectl observability render|dashboards|receive|textfile`, `coursectl logs` and `metrics report -f html`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import MINIMAL_CONFIG, REPO, needs_fixtures
from tests.support.slack_standin import SlackServer, StandIn

Cli = Callable[..., tuple[int, str, str]]
DATA = REPO / "tests" / "data"
RECEIVER_PORT = 27110  # this suite's own range (27000-27999)

SLOS = """
slos:
  - {name: user-availability, service: user, sli: availability, objective: 0.999}
  - {name: course-latency, service: course, sli: latency, objective: 0.99, threshold: 250ms}
"""


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with SlackServer() as s:
        yield s


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "coursectl.yaml"
    path.write_text(MINIMAL_CONFIG + SLOS + extra, encoding="utf-8")
    return path


def test_render_writes_rules_tests_and_alertmanager_config(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, _ = cli("-c", str(_config(tmp_path)), "observability", "render", "--out", str(out), "-o", "json")
    assert code == 0
    files = sorted(str(Path(p).relative_to(out)) for p in json.loads(stdout)["files"])
    assert "rules/slo-user-availability.rules.yml" in files and "rules/alerts.rules.yml" in files
    assert "tests/slo-course-latency-page-1h.test.yml" in files and "tests/alerts.test.yml" in files
    assert "alertmanager.yml" in files and "blackbox.yml" in files
    assert len([f for f in files if f.startswith("tests/slo-")]) == 8
    test_doc = yaml.safe_load((out / "tests" / "slo-user-availability-page-1h.test.yml").read_text())
    assert test_doc["rule_files"] == ["../rules/slo-user-availability.rules.yml"]
    assert [t["name"].split(" at ")[1][:4] for t in test_doc["tests"]] == ["0.9x", "1.1x"]
    am = yaml.safe_load((out / "alertmanager.yml").read_text())
    assert am["receivers"][0]["webhook_configs"][0]["url"].startswith("http://127.0.0.1:9097/alertmanager")


def test_render_refuses_a_bad_slo_with_exit_3(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "coursectl.yaml"
    path.write_text(MINIMAL_CONFIG + "slos:\n  - {name: x, service: ghost, sli: availability, objective: 0.99}\n")
    code, _, stderr = cli("-c", str(path), "observability", "render", "--out", str(tmp_path / "o"))
    assert code == 3 and "ghost" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "o").exists()


def test_dashboards_and_the_ledgers_deployments_as_annotations(cli: Cli, tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text(
        json.dumps(
            {
                "kind": "deployment",
                "service": "user",
                "environment": "prod",
                "version": "1.0.0",
                "started_at": "2026-11-01T10:00:00Z",
                "finished_at": "2026-11-01T10:04:00Z",
                "status": "succeeded",
            }
        )
        + "\n"
    )
    config = _config(tmp_path)
    assert cli("-c", str(config), "ledger", "import", str(history))[0] == 0
    code, stdout, _ = cli(
        "-c", str(config), "observability", "dashboards", "--out", str(tmp_path / "d"), "-o", "json"
    )
    assert code == 0 and json.loads(stdout)["annotations"] == 4
    notes = json.loads((tmp_path / "d" / "annotations.json").read_text())
    assert {n["dashboardUID"] for n in notes} == {
        "coursectl-jenkins",
        "coursectl-application",
        "coursectl-infrastructure",
        "coursectl-business",
    }
    doc = json.loads((tmp_path / "d" / "coursectl-application.json").read_text())
    assert doc["templating"]["list"][1]["current"]["value"] == "prod"


def test_textfile_writes_the_ledger_metrics(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "tf" / "coursectl.prom"
    code, _, _ = cli("-c", str(_config(tmp_path)), "observability", "textfile", "--out", str(target))
    assert code == 0
    text = target.read_text()
    assert "# TYPE coursectl_deploy_lock_expiry_timestamp_seconds gauge" in text
    assert "coursectl_ledger_exporter_time_seconds " in text


def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with opener.open(req, timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@needs_fixtures
def test_receive_turns_alertmanagers_posts_into_slack_messages(
    tmp_path: Path, standin: StandIn, state_dir: Path
) -> None:
    config = _config(
        tmp_path,
        "notifications:\n  slack: {webhook: {env: OBS_SLACK}}\n"
        "  routes: [{events: [alert], to: [slack]}]\n  retry: {attempts: 1, drain: 5s}\n",
    )
    env = {**os.environ, "OBS_SLACK": standin.webhook_url, "COURSECTL_STATE_DIR": str(state_dir)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coursectl",
            "-c",
            str(config),
            "observability",
            "receive",
            "--listen",
            f"127.0.0.1:{RECEIVER_PORT}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{RECEIVER_PORT}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _http("GET", base + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        payload = (DATA / "alertmanager" / "webhook-firing.json").read_bytes()
        status, answer = _http("POST", base + "/alertmanager?severity=critical", payload)
        assert status == 200 and json.loads(answer) == {"notifications": 1, "deliveries": {"sent": 1}}
        [request] = standin.calls(standin.webhook_path)
        text = json.dumps(request.body)
        assert "FIRING: ServiceDown (payment)" in text and "payment (blue) is down in prod" in text
        assert standin.webhook_url not in text
        assert _http("POST", base + "/alertmanager", b'{"alerts": 3}')[0] == 400
        assert _http("POST", base + "/alertmanager", b"not json")[0] == 400
        status, metrics = _http("GET", base + "/metrics")
        assert status == 200 and "# TYPE coursectl_backup_last_success_timestamp_seconds gauge" in metrics
        standin.fail(500, "boom", times=5)
        status, answer = _http("POST", base + "/alertmanager", payload)
        assert status == 502 and json.loads(answer)["deliveries"] == {"failed": 1}  # Alertmanager will retry
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert standin.webhook_url not in out + err


def _slot_logs(state_dir: Path, env: str) -> Path:
    folder = state_dir / "slots" / env
    folder.mkdir(parents=True)

    def line(svc: str, sec: int, rid: str, msg: str) -> str:
        return json.dumps(
            {
                "ts": f"2026-11-30T06:00:0{sec}.000Z",
                "level": "info",
                "service": svc,
                "request_id": rid,
                "message": msg,
            }
        )

    (folder / "user-blue.log").write_text(
        line("user", 1, "r1", "login") + "\n" + line("user", 4, "r2", "x") + "\n"
    )
    (folder / "user-green.log").write_text(line("user", 3, "r1", "token issued") + "\n")
    (folder / "course-blue.log").write_text(line("course", 2, "r1", "catalogue") + "\nnot json\n")
    return folder


def test_logs_follow_one_request_across_services_and_slots(cli: Cli, tmp_path: Path, state_dir: Path) -> None:
    path = tmp_path / "coursectl.yaml"
    path.write_text(
        MINIMAL_CONFIG.replace("environments:\n", "environments:\n  drill: {target: process}\n") + SLOS
    )
    _slot_logs(state_dir, "drill")
    code, stdout, _ = cli("-c", str(path), "logs", "--env", "drill", "--request-id", "r1", "-o", "json")
    assert code == 0, stdout
    lines = json.loads(stdout)["lines"]
    assert [(x["service"], x["slot"], x["message"]) for x in lines] == [
        ("user", "blue", "login"),
        ("course", "blue", "catalogue"),
        ("user", "green", "token issued"),
    ]
    code, stdout, _ = cli("-c", str(path), "logs", "user", "--env", "drill", "--slot", "blue")
    assert code == 0 and stdout.splitlines()[-1].endswith("user/blue INFO [r2] x")


def test_logs_errors_have_their_exit_codes(cli: Cli, tmp_path: Path) -> None:
    path = _config(tmp_path)
    code, _, stderr = cli("-c", str(path), "logs", "ghost", "--env", "local")
    assert code == 2 and "unknown service 'ghost'" in stderr
    code, _, stderr = cli("-c", str(path), "logs", "user", "--env", "prod")
    assert code == 4 and "kubernetes" in stderr
    code, _, stderr = cli("-c", str(path), "logs", "user", "--env", "local", "--since", "yesterday")
    assert code == 2 and "not a time span" in stderr


def test_success_report_as_a_self_contained_html_page(cli: Cli, tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = tmp_path / "success.html"
    code, _, _ = cli(
        "-c",
        str(config),
        "metrics",
        "report",
        "--since",
        "7d",
        "--format",
        "html",
        "--out",
        str(out),
        "--windows",
        "4",
    )
    assert code == 0
    html = out.read_text()
    assert html.count('class="metric"') == 8 and html.count('<svg id="spark-') == 8
    assert (
        "default-src 'none'" in html
        and "<script" not in html
        and "http://" not in html.replace("http://www.w3.org", "")
    )
    assert 'data-key="uptime" data-status="unknown"' in html
    assert 'data-key="deployment_frequency" data-status="missed"' in html and "✘ missed" in html
