"""The real HAProxy edge and its ports: a dry run starts and writes nothing; an edge never starts on a port
something else listens on (exit 4 naming the process); status shows an edge port shared with another process."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from coursectl.adapters.haproxy import HAProxyEdge
from coursectl.render import haproxy as hp
from coursectl.testing.drill import Drill

pytestmark = [pytest.mark.integration, pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing")]


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[Drill]:
    (tmp_path / "a").mkdir()
    d = Drill(tmp_path / "a")
    yield d
    d.cleanup()


def _edge(d: Drill) -> HAProxyEdge:
    return HAProxyEdge(d.state / "edge" / "drill", services={"course": "/health/ready"},
                       bind=f"127.0.0.1:{d.edge_port}", stats_bind=f"127.0.0.1:{d.stats_port}")


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (the ledger aside: SQLite's own files change when it is read) by content hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith("ledger.db")
            and p.suffix != ".log" and not p.name.endswith(".sock")}


class Listener:
    """Another process listening on a port (with SO_REUSEPORT when asked), until closed."""

    def __init__(self, port: int, *, reuseport: bool = False):
        code = (
            "import socket, sys, time\n"
            "s = socket.socket()\n"
            f"{'s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)' if reuseport else ''}\n"
            f"s.bind(('127.0.0.1', {port}))\n"
            "s.listen()\n"
            "print('ready', flush=True)\n"
            "time.sleep(600)\n"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.pid = self.proc.pid

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def test_a_dry_run_neither_starts_the_edge_nor_writes_anything(drill: Drill, tmp_path: Path) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    edge = _edge(drill)
    edge.stop()
    before = _files(drill.state)
    r = drill.run("deploy", "course", "--version", "v2", "--dry-run", "-o", "json")
    assert r.returncode == 0, r.stderr
    (plan,) = json.loads(r.stdout)["plans"]
    assert (plan["from_version"], plan["version"]) == ("v1", "v2")  # read from the stopped edge's saved state
    assert edge.pid() is None and not edge.running()
    assert not list(edge.workdir.glob("haproxy.cfg.new*"))
    assert _files(drill.state) == before

    # the case: a dry run with another state directory while the real edge runs takes nothing from it
    edge.ensure_running()
    (tmp_path / "b").mkdir()
    other = Drill(tmp_path / "b")
    other.config.write_text(drill.config.read_text())
    r = other.run("deploy", "course", "--version", "v9", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert not (other.state / "edge").exists() and not other.state.exists()
    listening = _pids_listening(drill.edge_port)
    assert listening and listening <= {edge.pid()} | _children(edge.pid())  # the real edge's processes only


def _children(pid: int | None) -> set[int]:
    from coursectl.adapters.listeners import process_tree

    return process_tree(pid) - {pid} if pid else set()


def _pids_listening(port: int) -> set[int | None]:
    from coursectl.adapters.listeners import listeners

    found = {listener.pid for listener in listeners("127.0.0.1", port)}
    return found | ({None} if not found else set())


def test_an_edge_refuses_a_port_another_process_listens_on(drill: Drill) -> None:
    squatter = Listener(drill.edge_port)
    try:
        r = drill.run("deploy", "course", "--version", "v1", "-o", "json")
        assert r.returncode == 4, r.stderr
        error = json.loads(r.stderr.splitlines()[-1])["error"]
        assert f"127.0.0.1:{drill.edge_port} (edge.bind) is already in use by python" in error["message"]
        assert f"(pid {squatter.pid})" in error["message"] and error["details"]["pids"] == [squatter.pid]
        assert _edge(drill).pid() is None
    finally:
        squatter.close()


def test_a_second_edge_on_the_same_port_is_refused_and_the_first_keeps_all_traffic(drill: Drill,
                                                                                   tmp_path: Path) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    first = _edge(drill).pid()
    (tmp_path / "b").mkdir()
    other = Drill(tmp_path / "b")
    config = drill.config.read_text().replace(f"port: {drill.base}", f"port: {other.base}")
    other.config.write_text(config.replace(f"127.0.0.1:{drill.stats_port}", f"127.0.0.1:{other.stats_port}"))
    try:
        r = other.run("deploy", "course", "--version", "v2")
        assert r.returncode == 4, r.stderr
        assert f"127.0.0.1:{drill.edge_port} (edge.bind) is already in use by haproxy (pid" in r.stderr
        versions = set()
        for _ in range(40):
            with urllib.request.urlopen(drill.url.replace("/courses", "/version"), timeout=5) as resp:
                versions.add(json.loads(resp.read())["version"])
        assert versions == {"v1"}  # every request still reached the real edge's slot
        assert _pids_listening(drill.edge_port) <= {first} | _children(first)
    finally:
        other.cleanup()


def test_the_rendered_edge_binds_without_reuseport() -> None:
    text = hp.render_config(backends=[], bind="127.0.0.1:1", stats_bind="127.0.0.1:2", socket="/x.sock",
                            pidfile="/x.pid", rate_limit_requests=1, rate_limit_period=1)
    assert "\n    noreuseport\n" in text.split("defaults")[0]


def test_status_shows_an_edge_port_shared_with_another_process(drill: Drill) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    edge = _edge(drill)
    edge.stop()
    # an edge started the way older coursectl did (SO_REUSEPORT), which another process can then join
    edge.config_path.write_text(edge.config_path.read_text().replace("    noreuseport\n", ""))
    edge.socket_path.unlink(missing_ok=True)
    subprocess.run(hp.start_argv(str(edge.config_path)), check=True, timeout=30)
    sharer = Listener(drill.edge_port, reuseport=True)
    try:
        r = drill.run("status", "-o", "json")
        assert r.returncode == 0, r.stderr
        problems = json.loads(r.stdout)["problems"]
        assert any(f"127.0.0.1:{drill.edge_port} (edge.bind) is shared with python" in p
                   and f"(pid {sharer.pid})" in p for p in problems), problems
        human = drill.run("status")
        assert f"! the edge's port 127.0.0.1:{drill.edge_port} (edge.bind) is shared with" in human.stdout
    finally:
        sharer.close()
    r = drill.run("status", "-o", "json")
    assert not [p for p in json.loads(r.stdout)["problems"] if "shared" in p]


def test_a_rollback_that_acts_takes_a_live_lock_and_says_whose(drill: Drill) -> None:
    assert drill.run("deploy", "course", "--version", "v1").returncode == 0
    assert drill.run("deploy", "course", "--version", "v2").returncode == 0
    alice = {**drill.env, "COURSECTL_ACTOR": "alice"}
    held = subprocess.run(drill.argv("lock", "acquire", "course", "--reason", "db maintenance", "--ttl", "1h"),
                          env=alice, capture_output=True, text=True, timeout=60, cwd=drill.tmp)
    assert held.returncode == 0, held.stderr
    r = drill.run("rollback", "course", "-o", "json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["took_over_lock"]["holder"] == "alice" and result["took_over_lock"]["reason"] == "db maintenance"
    warnings = [json.loads(line) for line in r.stderr.splitlines()]
    assert any(w["type"] == "warning" and "took over the deploy lock of course in drill held by alice" in w["message"]
               and "(db maintenance)" in w["message"] for w in warnings), warnings
    events = json.loads(drill.run("history", "-o", "json", "-k", "lock.takeover").stdout)["events"]
    assert events[0]["actor"] == "drill" and events[0]["details"]["previous"]["holder"] == "alice"
    r = drill.run("status", "-o", "json")
    assert json.loads(r.stdout)["services"][0]["version"] == "v1"
