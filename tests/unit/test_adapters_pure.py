"""Pure parts of the adapters: HAProxy config and runtime-API commands, docker run arguments, file_sd."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from coursectl.adapters.docker_target import image_ref, run_kwargs
from coursectl.adapters.prometheus import PrometheusMetrics, first_value
from coursectl.domain import SlotSpec, SlotState
from coursectl.render import haproxy as hp
from coursectl.render.prometheus import render_file_sd

HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight"
    " srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state"
    " srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port"
    " srv_check_addr srv_agent_addr srv_agent_port"
)
SHOW_STATE = f"""1
{HEADER}
4 be_course 1 blue 127.0.0.1 2 0 256 0 0 1 0 1 6 0 0 0 - 18102 - 0 0 - - 0
4 be_course 2 green 127.0.0.1 2 8 0 0 0 1 0 1 6 0 0 0 - 18202 - 0 0 - - 0
"""


def test_runtime_commands_are_exact() -> None:
    assert hp.add_server("course", hp.EdgeServer("green", "127.0.0.1", 8202, 0), "/health/ready") == [
        "add server be_course/green 127.0.0.1:8202 weight 0 check inter 5s fastinter 1s downinter 100ms fall 2 rise 1",
        "enable health be_course/green",
        "set server be_course/green state ready",
        "set server be_course/green health down",  # no traffic before its first passed check
    ]
    assert hp.set_weight("course", "green", 256) == [
        "set server be_course/green state ready",
        "set server be_course/green weight 256",
    ]
    assert hp.set_weight("course", "blue", 0) == [
        "set server be_course/blue weight 0",
        "set server be_course/blue state maint",
    ]
    assert hp.delete_server("course", "blue")[-1] == "del server be_course/blue"


def test_parse_servers_state() -> None:
    live = hp.parse_servers_state(SHOW_STATE)
    assert live["course"]["blue"]["weight"] == 256 and live["course"]["blue"]["port"] == 18102
    servers = hp.servers_from_state(live, "course")
    assert [(s.slot, s.weight, s.state) for s in servers] == [("blue", 256, "ready"), ("green", 0, "drain")]


def test_rendered_config_routes_every_service_and_passes_haproxy_check(tmp_path: Path) -> None:
    text = hp.render_config(
        backends=[
            hp.EdgeBackend("course", servers=(hp.EdgeServer("blue", "127.0.0.1", 8102, 256),)),
            hp.EdgeBackend("user"),
        ],
        bind="127.0.0.1:8080",
        stats_bind="127.0.0.1:8404",
        socket=str(tmp_path / "s.sock"),
        pidfile=str(tmp_path / "p"),
        rate_limit_requests=200,
        rate_limit_period=10,
    )
    assert "use_backend be_course if path_course" in text
    assert "server blue 127.0.0.1:8102 weight 256 check" in text
    assert "retry-on conn-failure empty-response" in text
    assert "prometheus-exporter" in text and "level admin" in text
    if shutil.which("haproxy"):
        cfg = tmp_path / "h.cfg"
        cfg.write_text(text)
        assert subprocess.run(hp.check_argv(str(cfg)), capture_output=True, timeout=30).returncode == 0


def _frontend(text: str) -> list[str]:
    """The routing lines of the edge's frontend, in order."""
    block = text[text.index("frontend fe_edge") : text.index("\nbackend be_no_route")]
    return [line.strip() for line in block.splitlines() if line.strip().startswith(("acl ", "use_backend", "default_"))]


@pytest.mark.parametrize(
    ("backends", "expected"),
    [
        (
            [hp.EdgeBackend("user"), hp.EdgeBackend("course")],
            ["acl path_user path_beg /api/user/", "use_backend be_user if path_user",
             "acl path_course path_beg /api/course/", "use_backend be_course if path_course",
             "default_backend be_no_route"],
        ),
        (
            [hp.EdgeBackend("storefront", route="/"), hp.EdgeBackend("user")],
            ["acl path_user path_beg /api/user/", "use_backend be_user if path_user",
             "use_backend be_no_route if { path_beg /api/ }", "default_backend be_storefront"],
        ),
        (
            [hp.EdgeBackend("docs", route="/docs/"), hp.EdgeBackend("user")],
            ["acl path_docs path_beg /docs/", "use_backend be_docs if path_docs",
             "acl path_user path_beg /api/user/", "use_backend be_user if path_user",
             "default_backend be_no_route"],
        ),
    ],
    ids=["api-only", "storefront-default", "own-prefix"],
)
def test_edge_routing(tmp_path: Path, backends: list[hp.EdgeBackend], expected: list[str]) -> None:
    text = hp.render_config(
        backends=backends, bind="127.0.0.1:8080", stats_bind="127.0.0.1:8404", socket=str(tmp_path / "s"),
        pidfile=str(tmp_path / "p"), rate_limit_requests=200, rate_limit_period=10,
    )  # fmt: skip
    assert _frontend(text) == expected
    if shutil.which("haproxy"):
        cfg = tmp_path / "h.cfg"
        cfg.write_text(text)
        assert subprocess.run(hp.check_argv(str(cfg)), capture_output=True, timeout=30).returncode == 0


def test_docker_run_arguments() -> None:
    spec = SlotSpec(
        "course",
        "green",
        "1.2.0",
        8202,
        image="127.0.0.1:5000/course-platform/course:1.2.0",
        digest="sha256:abc",
        env={"FAULT_ERROR_RATE": "0.3"},
        rollout_id="r1",
    )
    kw = run_kwargs(spec, "local")
    assert kw["name"] == "course-green" and kw["network_mode"] == "host"
    assert kw["environment"] == {
        "FAULT_ERROR_RATE": "0.3",
        "HOST": "127.0.0.1",
        "PORT": "8202",
        "SERVICE_SLOT": "green",
        "HEALTH_PATH": "/health/ready",
        "APP_VERSION": "1.2.0",
    }
    assert "volumes" not in kw
    # the image's HEALTHCHECK GETs the service's configured health path
    custom = SlotSpec("course", "green", "1.2.0", 8202, image="course:1.2.0", health="/ready")
    assert run_kwargs(custom, "local")["environment"]["HEALTH_PATH"] == "/ready"
    shared = run_kwargs(spec, "local", Path("/state/data/local"))
    assert shared["volumes"] == {"/state/data/local/course": {"bind": "/data", "mode": "rw"}}
    assert shared["environment"]["DATABASE_URL"] == "sqlite:////data/course.db"
    assert kw["labels"]["coursectl.version"] == "1.2.0" and kw["labels"]["coursectl.rollout-id"] == "r1"
    assert image_ref(spec) == "127.0.0.1:5000/course-platform/course@sha256:abc"


def test_file_sd_groups() -> None:
    slots = [
        SlotState("course", "stable", "v1", 8102, True, True),
        SlotState("course", "canary", "v2", 8202, True, True),
    ]
    groups = json.loads(render_file_sd("local", slots))
    assert groups[0] == {
        "targets": ["127.0.0.1:8202"],
        "labels": {"service": "course", "slot": "canary", "version": "v2", "environment": "local"},
    }
    fingerprinted = SlotState("course", "canary", "v2", 8202, True, True, fingerprint="0123456789abcdef")
    [group] = json.loads(render_file_sd("local", [fingerprinted]))
    assert group["labels"]["spec"] == "0123456789abcdef"  # a new slot's analysis reads its own series only


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        ([{"metric": {}, "value": [1, "0.25"]}], 0.25),
        ([], None),
        ([{"metric": {}, "value": [1, "NaN"]}], None),
        ({"resultType": "scalar", "value": [1, "3"]}, 3.0),
    ],
)
def test_first_value(raw: object, expect: float | None) -> None:
    assert first_value(raw) == expect


def test_prometheus_down_is_an_error_result() -> None:
    result = PrometheusMetrics("http://127.0.0.1:1", timeout=1).query("up")
    assert result.value is None and result.error == "Prometheus at http://127.0.0.1:1 is unreachable"


def test_the_edge_adapter_renders_the_configured_routes(tmp_path: Path) -> None:
    from coursectl.adapters.haproxy import HAProxyEdge

    edge = HAProxyEdge(tmp_path, services={"storefront": "/health/ready", "user": "/health/ready"},
                       routes={"storefront": "/"})  # fmt: skip
    text = edge.render({"storefront": [hp.EdgeServer("blue", "127.0.0.1", 8107, 256)]})
    assert _frontend(text)[-2:] == ["use_backend be_no_route if { path_beg /api/ }", "default_backend be_storefront"]
    assert "server blue 127.0.0.1:8107 weight 256 check" in text
