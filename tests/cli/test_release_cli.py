"""`coursectl release` in-process: the dry-run plan of waves, bad orders (exit 3), resume/abort/status with
nothing recorded; and `coursectl loadtest` against a local HTTP server (thresholds from the configuration)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coursectl.cli import main
from coursectl.testing.waves import WavesPlatform


@pytest.fixture
def waves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WavesPlatform]:
    p = WavesPlatform(tmp_path, base=24700)
    for key in ("COURSECTL_STATE_DIR", "COURSECTL_CONFIG", "COURSECTL_ACTOR"):
        monkeypatch.setenv(key, p.env[key])
    yield p
    p.cleanup()


def _files(folder: Path) -> set[str]:
    return {str(f.relative_to(folder)) for f in folder.rglob("*")} if folder.exists() else set()


def test_dry_run_prints_the_waves_and_changes_nothing(
    waves: WavesPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _files(waves.state)
    assert main(["release", "--version", "v1", "--dry-run", "-o", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [[p["service"] for p in wave] for wave in data["waves"]] == [
        ["content", "user"],
        ["course", "payment"],
        ["enrollment", "notification"],
    ]
    first = data["waves"][0][0]
    assert first["strategy"] == "blue-green" and first["from_version"] is None and first["version"] == "v1"
    assert "start the new version in blue" in first["steps"]
    assert data["on_failure"] == "rollback-all" and data["parallel"] == 3
    # three waves of two (parallel 3): three times one service's worst case
    assert data["worst_case_s"] == pytest.approx(3 * first["worst_case_s"])
    assert _files(waves.state) == before


def test_dry_run_human_names_waves_and_worst_case(
    waves: WavesPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["release", "course", "user", "--version", "v1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.index("wave 1:") < out.index("  user:") < out.index("wave 2:") < out.index("  course:")
    assert "worst case:" in out


@pytest.mark.parametrize(
    ("release", "deps", "words"),
    [
        ("{order: [[user], [ghost]]}", "", "release.order[1]: unknown service 'ghost'"),
        ("{}", "course: [user]\nuser: [course]", "a dependency cycle: course → user → course"),
    ],
)
def test_bad_orders_are_configuration_errors(
    waves: WavesPlatform, capsys: pytest.CaptureFixture[str], release: str, deps: str, words: str
) -> None:
    text = waves.config.read_text().replace(
        waves.config.read_text().split("release: ", 1)[1].split("\n", 1)[0], release
    )
    for line in deps.splitlines():
        name, dep = line.split(": ")
        text = text.replace(f"  {name}: {{path: s/{name},", f"  {name}: {{depends_on: {dep}, path: s/{name},")
    waves.config.write_text(text)
    assert main(["release", "--version", "v1", "--dry-run"]) == 3
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("action", ["resume", "abort", "status"])
def test_nothing_to_resume_abort_or_show(
    waves: WavesPlatform, capsys: pytest.CaptureFixture[str], action: str
) -> None:
    assert main(["release", action, "-o", "json"]) == 4
    assert json.loads(capsys.readouterr().err)["error"]["type"] == "precondition"


def test_release_actions_take_no_extra_arguments(waves: WavesPlatform) -> None:
    assert main(["release", "resume", "course"]) == 2
    assert main(["release", "abort", "--version", "v1"]) == 2
    assert main(["release", "list", "-o", "json"]) == 0


class _Server:
    """A local HTTP server answering every GET with ``status`` after ``delay`` seconds."""

    def __init__(self, status: int, delay: float = 0.0):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                outer.count += 1
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.status, self.delay, self.count = status, delay, 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _with_load(waves: WavesPlatform, load: str) -> None:
    text = waves.config.read_text()
    waves.config.write_text(text.replace("release: {on_failure:", f"release: {{load: {load}, on_failure:"))


def test_loadtest_thresholds_from_the_configuration(
    waves: WavesPlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = _Server(500)
    try:
        _with_load(waves, "{rps: 40, duration: 0.5, error_rate_max: 0.5}")
        junit = tmp_path / "load.xml"
        assert main(["loadtest", "--url", server.url, "--junit", str(junit), "-o", "json"]) == 6
        data = json.loads(capsys.readouterr().out)
        checks = {c["name"]: c for c in data["checks"]}
        assert data["target_rps"] == 40 and checks["error-rate"]["limit"] == 0.5
        assert checks["error-rate"]["value"] == 1.0 and not checks["error-rate"]["ok"]
        assert "error-rate" in junit.read_text()
        # a flag wins over the configuration
        assert main(["loadtest", "--url", server.url, "--error-rate-max", "1", "-o", "json"]) == 0
    finally:
        server.close()


def test_a_generator_that_cannot_reach_its_rate_says_so(
    waves: WavesPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _Server(200, delay=0.2)  # one connection: at most 5 requests a second
    try:
        code = main(
            ["loadtest", "--url", server.url, "--rps", "50", "--duration", "1", "--connections", "1",
             "--p95-max", "5", "-o", "json"]
        )  # fmt: skip
        assert code == 6
        checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
        assert not checks["rate-reached"]["ok"] and checks["rate-reached"]["value"] < 0.5
    finally:
        server.close()


def test_a_load_test_where_nothing_answers_says_how_the_requests_failed(
    waves: WavesPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["loadtest", "--url", f"http://127.0.0.1:{port}", "--rps", "20", "--duration", "0.5", "-o", "json"])
    captured = capsys.readouterr()
    assert code == 6
    data = json.loads(captured.out)
    assert data["statuses"] == {"connection refused": data["sent"]} and data["sent"] >= 5
    error = json.loads(captured.err.splitlines()[-1])["error"]
    assert f"{data['sent']} failed ({data['sent']} connection refused)" in error["message"]


@pytest.mark.parametrize(
    "flags",
    [["--rps", "1e12"], ["--rps", "nan"], ["--duration", "inf"], ["--duration", "1e9"], ["--p95-max", "nan"],
     ["--connections", "0"], ["--error-rate-max", "1.5"]],
)  # fmt: skip
def test_a_load_test_out_of_bounds_is_refused_before_any_request(waves: WavesPlatform, flags: list[str]) -> None:
    server = _Server(200)
    try:
        assert main(["loadtest", "--url", server.url, *flags]) == 2
        assert server.count == 0
    finally:
        server.close()
