"""The HAProxy edge template: valid for haproxy -c, routes by path, rate-limits per client, exports metrics,
and its admin socket can add and weight servers at run time (what the rollout will do)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.platform import Edge, haproxy_binary, render_edge
from tests.support.servers import ManagedProcess, free_port, wait_until

pytestmark = pytest.mark.integration

CONTEXT = {"edge": {"bind": "127.0.0.1:8080", "stats_bind": "127.0.0.1:8404", "admin_socket": "/run/edge.sock",
                    "rate_limit": {"requests": 100, "period": "10s"}},
           "services": [{"name": "user", "servers": [{"name": "blue", "address": "127.0.0.1:8001", "weight": 100}]},
                        {"name": "course", "servers": [{"name": "blue", "address": "127.0.0.1:8002", "weight": 90},
                                                       {"name": "green", "address": "127.0.0.1:9002",
                                                        "weight": 10}]}]}


def test_rendered_config_passes_haproxy_check(tmp_path: Path) -> None:
    text = render_edge(CONTEXT)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    result = subprocess.run([haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warnings were found" not in result.stdout + result.stderr
    assert "stats socket /run/edge.sock mode 600 level admin expose-fd listeners" in text
    assert "http-request use-service prometheus-exporter if { path /metrics }" in text
    assert "    acl path_course path_beg /api/course/\n    use_backend be_course if path_course" in text
    assert "    server green 127.0.0.1:9002 weight 10 check" in text
    assert text.count("option httpchk GET /health/ready") == 2
    assert text.count("balance roundrobin") == 2


def test_missing_input_is_an_error_not_a_silent_default() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        render_edge({"edge": {"bind": "127.0.0.1:1"}, "services": []})


HELLO = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
name = sys.argv[2]
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (name + " " + self.path).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture()
def backends(tmp_path: Path) -> Iterator[dict[str, int]]:
    script = tmp_path / "hello.py"
    script.write_text(HELLO)
    ports = {"user-blue": free_port(), "user-green": free_port(), "course-blue": free_port()}
    procs = [ManagedProcess(n, [sys.executable, str(script), str(p), n], log=tmp_path / f"{n}.log").start()
             for n, p in ports.items()]
    try:
        for (name, port), proc in zip(ports.items(), procs):
            wait_until(lambda port=port: httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200,
                       15, name, proc=proc.proc)
        yield ports
    finally:
        for proc in procs:
            proc.stop()


def admin(sock: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode()


def test_routing_rate_limit_exporter_and_runtime_servers(tmp_path: Path, backends: dict[str, int]) -> None:
    edge = Edge(tmp_path / "edge", [
        {"name": "user", "servers": [{"name": "blue", "address": f"127.0.0.1:{backends['user-blue']}"}]},
        {"name": "course", "servers": [{"name": "blue", "address": f"127.0.0.1:{backends['course-blue']}"}]},
    ], rate_limit={"requests": 20, "period": "10s"}).start()
    try:
        client = httpx.Client(base_url=edge.url, timeout=5)
        wait_until(lambda: client.get("/api/course/x").status_code == 200, 15, "edge")
        # path routing, prefix kept
        assert client.get("/api/user/me").text == "user-blue /api/user/me"
        assert client.get("/api/course/courses?page=2").text == "course-blue /api/course/courses?page=2"
        assert client.get("/api/other/x").status_code == 404
        # the runtime API adds a server without a reload, then takes all traffic from blue
        out = admin(edge.socket, f"add server be_user/green 127.0.0.1:{backends['user-green']} weight 0")
        assert "New server registered" in out, out
        admin(edge.socket, "enable server be_user/green")
        admin(edge.socket, "set server be_user/green weight 100")
        admin(edge.socket, "set server be_user/blue weight 0")
        assert {client.get("/api/user/me").text for _ in range(4)} == {"user-green /api/user/me"}
        state = admin(edge.socket, "show servers state be_user")
        assert "green" in state and "blue" in state
        # per-client rate limit: 20 per 10 s from one address; the 21st+ get a JSON 429
        statuses = [client.get("/api/course/x").status_code for _ in range(30)]
        assert 429 in statuses
        limited = client.get("/api/course/x")
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        # the built-in Prometheus exporter on the loopback stats port
        text = httpx.get(f"http://127.0.0.1:{edge.stats_port}/metrics", timeout=5).text
        assert 'haproxy_backend_http_responses_total{proxy="be_course",code="2xx"}' in text
        assert 'haproxy_server_weight{proxy="be_user",server="green"}' in text
    finally:
        edge.stop()
