"""End to end: a service stops → the rendered ServiceDown alert fires in the sandbox's real Prometheus → the real
Alertmanager routes it by severity → coursectl's receiver turns it into a notification → a message arrives at the
local Slack stand-in. Prints how long that took. Short intervals come from the test's configuration."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coursectl.config.loader import load_config
from coursectl.sandbox import Sandbox, remove_targets, write_targets
from coursectl.wiring import sandbox_settings
from tests.support.slack_standin import SlackServer

pytestmark = pytest.mark.integration

SERVICE_PORT = 27101  # this test's own range (27000-27999)


def _config(tmp: Path, box: Sandbox) -> Path:
    s = box.settings
    path = tmp / "coursectl.yaml"
    path.write_text(f"""
project: e2e
services:
  e2ecourse: {{path: x, port: {SERVICE_PORT}}}
registry: {{url: 127.0.0.1:{s.registry_port}}}
environments:
  e2e: {{target: process}}
notifications:
  slack: {{webhook: {{env: E2E_SLACK_WEBHOOK}}}}
  routes:
    - {{events: [alert], to: [slack]}}
  retry: {{attempts: 2, backoff: 0.2s, max_backoff: 1s, drain: 5s}}
observability:
  alerts: {{service_down_for: 5s}}
  alertmanager: {{group_wait: 1s, group_interval: 1s, repeat_interval: 1h}}
sandbox:
  registry_port: {s.registry_port}
  prometheus_port: {s.prometheus_port}
  alertmanager_port: {s.alertmanager_port}
  blackbox_port: {s.blackbox_port}
  node_exporter_port: {s.node_exporter_port}
  receiver_port: {s.receiver_port}
""")
    return path


def _query(box: Sandbox, http_get, promql: str) -> list:  # type: ignore[no-untyped-def]
    import urllib.parse

    status, body = http_get(f"{box.prometheus_url()}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert status == 200, body
    return list(body["data"]["result"])


def test_stopped_service_reaches_slack_through_alertmanager(
    sandbox: Sandbox, http_get, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackServer() as standin:
        monkeypatch.setenv("E2E_SLACK_WEBHOOK", standin.webhook_url)
        path = _config(tmp_path, sandbox)
        loaded = load_config(path, environ={})
        wanted = sandbox_settings(loaded.config, path)
        settings = dataclasses.replace(
            sandbox.settings,
            rule_files=wanted.rule_files,
            alertmanager_config=wanted.alertmanager_config,
            receiver_argv=wanted.receiver_argv,
        )
        box = Sandbox(sandbox.state_dir, settings)
        status = box.up()
        assert status.component("receiver").healthy, status.to_dict()
        assert status.component("alertmanager").healthy and status.component("prometheus").healthy
        again = box.up()
        assert again.noop, again.changes  # nothing changed: a second up is a no-op

        env = {
            **os.environ,
            "SERVICE": "e2ecourse",
            "VERSION": "1.0.0",
            "HOST": "127.0.0.1",
            "PORT": str(SERVICE_PORT),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "coursectl.tinyservice"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            write_targets(
                box.file_sd_dir(),
                "e2e-alerting",
                [
                    {
                        "targets": [f"127.0.0.1:{SERVICE_PORT}"],
                        "labels": {
                            "service": "e2ecourse",
                            "slot": "blue",
                            "environment": "e2e",
                            "version": "1.0.0",
                        },
                    }
                ],
            )
            deadline = time.monotonic() + 60
            while not _query(box, http_get, 'up{service="e2ecourse"} == 1'):
                assert time.monotonic() < deadline, "Prometheus never scraped the service"
                time.sleep(0.5)
            rules = _query(box, http_get, 'ALERTS{alertname="ServiceDown", service="e2ecourse"}')
            assert rules == []
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)

            def arrived() -> list[dict]:  # type: ignore[type-arg]
                found = []
                for r in standin.calls(standin.webhook_path):
                    text = json.dumps(r.body)
                    if "ServiceDown" in text and "e2ecourse" in text and "FIRING" in text:
                        found.append(r.body)
                return found

            deadline = time.monotonic() + 120
            while not arrived():
                assert time.monotonic() < deadline, (
                    "no alert reached the Slack stand-in within 120 s; receiver log: "
                    + (box.dir / "logs" / "receiver.log").read_text()[-2000:]
                )
                time.sleep(0.2)
            took = time.monotonic() - stopped_at
            print(
                f"\n[alerting e2e] service stopped → Slack message in {took:.1f} s "
                f"(scrape 5 s, evaluation 5 s, for 5 s, group_wait 1 s)",
                file=sys.stderr,
            )
            message = arrived()[0]
            text = json.dumps(message)
            assert "critical" in text.lower() and "e2e" in text
            # the delivery is recorded in the state directory's ledger by the receiver
            from coursectl.ledger import open_ledger

            ledger = open_ledger(sandbox.state_dir)
            try:
                kinds = [e.details.get("event") for e in ledger.events(kinds=["notification"], limit=50)]
            finally:
                ledger.close()
            assert "alert.firing" in kinds, kinds
        finally:
            if proc.poll() is None:
                proc.kill()
            remove_targets(box.file_sd_dir(), "e2e-alerting")
