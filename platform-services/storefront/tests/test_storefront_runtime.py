"""The storefront's runtime, pure parts: settings from the environment, the nginx config, the metrics."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[1] / "runtime" / "storefront_runtime.py"
_spec = importlib.util.spec_from_file_location("storefront_runtime", RUNTIME)
assert _spec and _spec.loader
rt = importlib.util.module_from_spec(_spec)
sys.modules["storefront_runtime"] = rt
_spec.loader.exec_module(rt)


def settings(**env: str) -> object:
    return rt.settings_from({"RUNTIME_DIR": "/run/sf", "STOREFRONT_ROOT": "/srv/sf", **env}, euid=10001)


def test_defaults() -> None:
    s = rt.settings_from({}, euid=10001)
    assert (s.host, s.port, str(s.root), str(s.run_dir), s.fault_error_rate) == (
        "127.0.0.1", 8007, "/srv/storefront", "/tmp/storefront-8007", 0.0)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PORT": "80a"}, "PORT must be a port number"),
        ({"PORT": "70000"}, "PORT must be a port number"),
        ({"FAULT_ERROR_RATE": "2"}, "FAULT_ERROR_RATE must be a number from 0 to 1, got '2'"),
        ({"FAULT_ERROR_RATE": "lots"}, "FAULT_ERROR_RATE must be a number from 0 to 1"),
        ({"FAULT_ERROR_RATE": "nan"}, "FAULT_ERROR_RATE"),
        ({"HOST": "127.0.0.1; evil"}, "HOST must be an address"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(rt.ConfigError, match=fragment.replace("(", r"\(")):
        rt.settings_from(env, euid=10001)


def test_the_config_listens_where_asked_and_writes_only_to_its_run_dir() -> None:
    text = rt.render_config(settings(HOST="127.0.0.1", PORT="8107"))
    assert "listen 127.0.0.1:8107;" in text
    assert "root /srv/sf;" in text
    assert "pid /run/sf/nginx.pid;" in text
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{temp}_temp_path /run/sf/{temp};" in text
    assert "syslog:server=unix:/run/sf/access.sock" in text
    assert "proxy_pass http://unix:/run/sf/metrics.sock:/metrics;" in text
    assert "user root" not in text  # unprivileged: no user directive
    assert "split_clients" not in text  # no faults by default
    assert "@" not in text.replace("'@", "")  # every placeholder filled


def test_ipv6_hosts_are_bracketed_and_root_runs_workers_as_root() -> None:
    text = rt.render_config(rt.settings_from({"HOST": "::1", "PORT": "9000", "RUNTIME_DIR": "/r"}, euid=0))
    assert "listen [::1]:9000;" in text and "user root root;" in text


def test_fault_rate_becomes_a_split_of_requests() -> None:
    text = rt.render_config(settings(FAULT_ERROR_RATE="0.25"))
    assert 'split_clients "${request_id}" $fault {\n        25% 1;\n        * 0;\n    }' in text


def test_metrics_count_nginx_lines_like_the_services_count_requests() -> None:
    m = rt.Metrics()
    assert m.observe_line("<190>Nov 30 06:13:35 storefront: sfm /{spa} GET 200 0.004 -")
    assert m.observe_line("storefront: sfm /assets/{file} GET 404 0.000 -")
    assert m.observe_line("storefront: sfm /{spa} GET 500 0.000 fault")
    assert not m.observe_line("storefront: something else")
    text = m.render()
    assert 'http_requests_total{service="storefront",route="/{spa}",method="GET",status="200"} 1' in text
    assert 'http_requests_total{service="storefront",route="/{spa}",method="GET",status="500"} 1' in text
    assert 'http_requests_total{service="storefront",route="/assets/{file}",method="GET",status="404"} 1' in text
    # the 500 series of the pages exist from the start (rate() must see a canary's first errors)
    assert 'http_requests_total{service="storefront",route="/assets/{file}",method="GET",status="500"} 0' in text
    assert ('http_request_duration_seconds_bucket{service="storefront",route="/{spa}",method="GET",le="0.005"} 2'
            in text)
    assert 'http_request_duration_seconds_count{service="storefront",route="/{spa}",method="GET"} 2' in text
    assert 'faults_injected_total{service="storefront",kind="error"} 1' in text
    assert 'storefront_log_lines_malformed_total{service="storefront"} 1' in text


def test_metrics_text_parses_as_prometheus_exposition() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    m = rt.Metrics()
    m.observe_line("storefront: sfm /version GET 200 0.120 -")
    families = {f.name: f for f in text_string_to_metric_families(m.render())}
    assert {"http_requests", "http_request_duration_seconds", "faults_injected"} <= set(families)
    buckets = [s for s in families["http_request_duration_seconds"].samples if s.name.endswith("_bucket")]
    assert [s.value for s in buckets if s.labels["route"] == "/version"] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
