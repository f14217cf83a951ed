"""The sandbox's rendered files: registry config.yml, prometheus.yml and file_sd targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from coursectl.errors import UsageError
from coursectl.sandbox import prometheus, registry


def test_registry_config_listens_on_loopback_with_htpasswd(tmp_path: Path) -> None:
    paths = registry.registry_paths(tmp_path / "sandbox")
    doc = yaml.safe_load(registry.render_config(paths, port=5123, http_secret="s3cret"))
    assert doc["version"] == 0.1
    assert doc["http"]["addr"] == "127.0.0.1:5123"
    assert doc["http"]["secret"] == "s3cret"
    assert doc["auth"] == {"htpasswd": {"realm": "coursectl-sandbox", "path": str(paths.htpasswd)}}
    assert doc["storage"]["filesystem"]["rootdirectory"] == str(paths.storage)
    assert doc["storage"]["delete"]["enabled"] is True


def test_registry_config_quotes_odd_paths(tmp_path: Path) -> None:
    paths = registry.registry_paths(tmp_path / "a dir: with 'quotes' & #hash")
    doc = yaml.safe_load(registry.render_config(paths, port=5000, http_secret="x"))
    assert doc["storage"]["filesystem"]["rootdirectory"] == str(paths.storage)
    assert doc["auth"]["htpasswd"]["path"] == str(paths.htpasswd)


def test_prometheus_config_scrapes_file_sd_every_five_seconds(tmp_path: Path) -> None:
    paths = prometheus.prometheus_paths(tmp_path / "sandbox")
    doc = yaml.safe_load(prometheus.render_config(paths, port=9123))
    assert doc["global"]["scrape_interval"] == "5s"
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:9123"]}]
    assert jobs["prometheus"]["scrape_interval"] == "15s"  # the sandbox's own parts: less often
    assert "scrape_interval" not in jobs["coursectl"]  # the services: every 5 s, canary analysis reads them
    assert jobs["coursectl"]["file_sd_configs"] == [
        {"files": [f"{paths.file_sd}/*.json"], "refresh_interval": "5s"}
    ]


def test_prometheus_argv_binds_loopback_and_enables_lifecycle(tmp_path: Path) -> None:
    paths = prometheus.prometheus_paths(tmp_path)
    argv = prometheus.argv("/usr/bin/prometheus", paths, port=9091)
    assert argv[0] == "/usr/bin/prometheus"
    assert "--web.listen-address=127.0.0.1:9091" in argv
    assert "--web.enable-lifecycle" in argv
    assert f"--storage.tsdb.path={paths.storage}" in argv
    assert f"--config.file={paths.config}" in argv


def test_write_targets_is_atomic_and_valid_json(tmp_path: Path) -> None:
    groups = [{"targets": ["127.0.0.1:8001"], "labels": {"version": "1.2.3", "service": "user", "slot": "blue"}}]
    path = prometheus.write_targets(tmp_path / "file_sd", "user-blue", groups)
    assert path == tmp_path / "file_sd" / "user-blue.json"
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:8001"], "labels": {"service": "user", "slot": "blue", "version": "1.2.3"}}
    ]
    assert sorted(p.name for p in (tmp_path / "file_sd").iterdir()) == ["user-blue.json"]
    prometheus.write_targets(tmp_path / "file_sd", "user-blue", [])
    assert json.loads(path.read_text()) == []
    assert prometheus.remove_targets(tmp_path / "file_sd", "user-blue") is True
    assert prometheus.remove_targets(tmp_path / "file_sd", "user-blue") is False


@pytest.mark.parametrize(
    ("name", "groups", "message"),
    [
        ("../evil", [], "invalid file_sd name"),
        ("ok", [{"targets": "127.0.0.1:1"}], "targets must be a list"),
        ("ok", [{"targets": [""]}], "targets must be a list"),
        ("ok", [{"targets": ["a:1"], "labels": {"1bad": "x"}}], "invalid label name"),
        ("ok", [{"targets": ["a:1"], "labels": {"__address__": "x"}}], "invalid label name"),
        ("ok", [{"targets": ["a:1"], "labels": {"slot": 1}}], "label slot must be a string"),
        ("ok", [{"targets": ["a:1"], "weight": 3}], "unknown keys"),
    ],
)
def test_write_targets_rejects_bad_input(tmp_path: Path, name: str, groups: list, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        prometheus.write_targets(tmp_path, name, groups)
    assert not list(tmp_path.iterdir())


def test_prometheus_config_with_monitoring_loads_rules_alerts_and_probes(tmp_path: Path) -> None:
    paths = prometheus.prometheus_paths(tmp_path / "sandbox")
    doc = yaml.safe_load(prometheus.render_config(
        paths, port=9090, monitoring=prometheus.Monitoring(9093, 9115, 9100, 9097), evaluation_interval="15s"))
    assert doc["global"]["evaluation_interval"] == "15s"
    assert doc["rule_files"] == [f"{paths.rules}/*.rules.yml"]
    assert doc["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["127.0.0.1:9093"]}]
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert jobs["node"]["static_configs"] == [{"targets": ["127.0.0.1:9100"]}]
    assert jobs["coursectl-receiver"]["static_configs"] == [{"targets": ["127.0.0.1:9097"]}]
    box = jobs["blackbox"]
    assert box["metrics_path"] == "/probe" and box["params"] == {"module": ["http_2xx"]}
    assert box["file_sd_configs"][0]["files"] == [f"{paths.file_sd}/probes/*.json"]
    assert box["relabel_configs"][-1] == {"target_label": "__address__", "replacement": "127.0.0.1:9115"}
    plain = yaml.safe_load(prometheus.render_config(paths, port=9090))
    assert "rule_files" not in plain and [j["job_name"] for j in plain["scrape_configs"]] == ["prometheus", "coursectl"]


def test_rule_files_are_written_only_when_they_change(tmp_path: Path) -> None:
    paths = prometheus.prometheus_paths(tmp_path / "sandbox")
    assert prometheus.write_rules(paths, [("a.rules.yml", "groups: []\n")]) is True
    assert prometheus.write_rules(paths, [("a.rules.yml", "groups: []\n")]) is False
    assert prometheus.write_rules(paths, [("b.rules.yml", "groups: []\n")]) is True
    assert sorted(p.name for p in paths.rules.iterdir()) == ["b.rules.yml"]


def test_edge_targets_and_probes_are_written_for_an_environment(tmp_path: Path) -> None:
    import json

    from coursectl.config.models import EdgeConfig
    from coursectl.wiring import write_edge_monitoring

    edge = EdgeConfig(bind="127.0.0.1:8080", stats_bind="127.0.0.1:8404")
    write_edge_monitoring(tmp_path, "local", edge, ["/api/course/courses"])
    assert json.loads((tmp_path / "edge-local.json").read_text()) == [
        {"targets": ["127.0.0.1:8404"], "labels": {"environment": "local", "service": "edge", "slot": "edge"}}]
    assert json.loads((tmp_path / "probes" / "local.json").read_text())[0]["targets"] == [
        "http://127.0.0.1:8080/api/course/courses"]
    write_edge_monitoring(tmp_path, "local", edge, [])
    assert not (tmp_path / "probes" / "local.json").exists()
