"""`coursectl metrics report`: Jenkins and SonarQube sources against local HTTP servers answering with the real
samples in ../shared/fixtures (results edited in loaded copies, as fixtures/SOURCES.md suggests), scan pass rate
from the ledger, and "unknown" with a reason for sources that are not configured or unreachable."""

from __future__ import annotations

import base64
import copy
import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from coursectl.domain import LedgerEvent
from coursectl.ledger import open_ledger
from tests.conftest import fixtures_dir

FIXTURES = fixtures_dir()
needs_fixtures = pytest.mark.skipif(
    FIXTURES is None, reason="shared fixtures not found (set COURSECTL_FIXTURES or put them at <repo>/../shared/fixtures)"
)
DATA = Path(__file__).resolve().parents[1] / "data"
Route = Callable[[str, dict[str, str]], tuple[int, Any]]


@pytest.fixture
def http_server() -> Iterator[Callable[[Route], tuple[str, list[dict[str, Any]]]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(route: Route) -> tuple[str, list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                seen.append({"path": self.path, "headers": dict(self.headers)})
                status, body = route(self.path, dict(self.headers))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}", seen

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(rel: str) -> Any:
    assert FIXTURES is not None
    return json.loads((FIXTURES / rel).read_text())


# build results of the job's 7 builds (job-info.json lists 1..7); the saved builds are all SUCCESS
RESULTS = {1: "SUCCESS", 2: "SUCCESS", 3: "FAILURE", 4: "SUCCESS", 5: "ABORTED", 6: "FAILURE", 7: "SUCCESS"}


def _build(n: int) -> dict[str, Any]:
    build = copy.deepcopy(_load("jenkins/jenkins-rest/build-info.json"))
    build.update(number=n, id=str(n), result=RESULTS[n], timestamp=build["timestamp"] + n * 3_600_000)
    return dict(build)


def jenkins_route(embed: bool) -> Route:
    """The job answers at depth 1 with its builds embedded (``embed``) or, like the saved depth-0 sample, with
    numbers only, so that every build is fetched on its own."""

    def route(path: str, headers: dict[str, str]) -> tuple[int, Any]:
        clean = path.split("?")[0].rstrip("/")
        if clean == "/job/fish/api/json":
            job = copy.deepcopy(_load("jenkins/jenkins-rest/job-info.json"))
            if embed and "depth=1" in path:
                job["builds"] = [_build(b["number"]) for b in job["builds"]]
            return 200, job
        parts = clean.split("/")
        if len(parts) == 6 and parts[1:3] == ["job", "fish"] and parts[4:] == ["api", "json"]:
            return 200, _build(int(parts[3]))
        return 404, {}

    return route


def sonar_route(measures: str) -> Route:
    def route(path: str, headers: dict[str, str]) -> tuple[int, Any]:
        basic = "Basic " + base64.b64encode(b"sq-token-123:").decode()  # the token as user, empty password
        if headers.get("Authorization") != basic:
            return 401, _load("sonarqube/sonar-scanner-jenkins/error.json")
        if path.startswith("/api/measures/component"):
            if measures == "coverage":
                body = json.loads((DATA / "sonarqube" / "measures-component-example.json").read_text())
                body["component"]["measures"].append({"metric": "coverage", "value": "87.3"})
                return 200, body
            return 404, _load("sonarqube/sonar-scanner-jenkins/error.json")
        if path.startswith("/api/qualitygates/project_status"):
            return 200, _load("sonarqube/webapi-examples/project_status-example.json")
        return 404, {}

    return route


def _config(tmp_path: Path, metrics: str) -> Path:
    cfg = tmp_path / "coursectl.yaml"
    cfg.write_text(
        "project: t\nservices:\n  payment: {path: platform-services/payment, port: 8003}\n"
        "registry: {url: 127.0.0.1:5000}\nenvironments:\n  prod: {target: docker}\n"
        f"metrics:\n  timezone: UTC\n  repository: .\n{metrics}",
        encoding="utf-8",
    )
    return cfg


def _scans(state_dir: Path) -> None:
    with open_ledger(state_dir) as ledger:
        for i, outcome in enumerate(["passed", "blocked", "skipped", "passed", "error"]):
            ledger.record(LedgerEvent(kind="scan", actor="t", service="payment", outcome=outcome,
                                      time=datetime(2016, 4, 20, 10, i, tzinfo=UTC)))


def _by_key(out: str) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for m in json.loads(out)["metrics"]}


@needs_fixtures
@pytest.mark.parametrize(("measures", "embed"), [("coverage", True), ("missing", False)])
def test_report_reads_jenkins_sonarqube_and_scans(cli, http_server, tmp_path: Path, state_dir: Path,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch, measures: str, embed: bool) -> None:
    jenkins_url, jenkins_seen = http_server(jenkins_route(embed))
    sonar_url, sonar_seen = http_server(sonar_route(measures))
    monkeypatch.setenv("J_USER", "ci")
    monkeypatch.setenv("J_TOKEN", "jenkins-token-456")
    monkeypatch.setenv("SONAR_TOKEN", "sq-token-123")
    cfg = _config(tmp_path, f"  jenkins: {{url: '{jenkins_url}', job: fish, username: {{env: J_USER}}, "
                            f"token: {{env: J_TOKEN}}}}\n"
                            f"  sonarqube: {{url: '{sonar_url}', project: my_project, token: {{env: SONAR_TOKEN}}}}\n"
                            f"  prometheus: {{url: 'http://127.0.0.1:{_closed_port()}', timeout: 2s}}\n")
    _scans(state_dir)
    code, out, err = cli("-c", str(cfg), "metrics", "report", "--from", "2016-04-19", "--to", "2016-04-22",
                         "-f", "json")
    assert code == 0, err
    m = _by_key(out)

    builds = m["build_success_rate"]
    assert builds["value"] == 4 / 6  # 7 builds, ABORTED not counted, 2 FAILURE
    assert builds["status"] == "missed" and builds["source"].endswith("job fish (6 builds)")
    # python-jenkins asks for a CSRF crumb first (404 here: none needed with an API token)
    seen = [s for s in jenkins_seen if not s["path"].startswith("/crumbIssuer/")]
    paths = [s["path"].split("?")[0] for s in seen]
    builds = [] if embed else [f"/job/fish/{n}/api/json" for n in range(7, 0, -1)]
    assert paths == ["/job/fish/api/json", *builds]
    assert "depth=1" in seen[0]["path"]
    assert all(s["headers"].get("Authorization", "").startswith("Basic ") for s in seen)

    cov = m["coverage"]
    if measures == "coverage":
        assert cov["value"] == 87.3 and cov["status"] == "met"
        assert cov["source"].endswith("api/measures/component metricKeys=coverage")
    else:  # measures answered 404 with the real error body: the quality gate's new_coverage condition is used
        assert cov["value"] == 82.50562381034781 and cov["status"] == "met"
        assert cov["source"].endswith("api/qualitygates/project_status condition new_coverage")
    # the one SonarQube client sends the token as the basic-auth user (every SonarQube version accepts it)
    assert all(base64.b64decode(s["headers"]["Authorization"].split()[1]) == b"sq-token-123:" for s in sonar_seen)

    scans = m["scan_pass_rate"]
    assert scans["value"] == 2 / 5 and scans["status"] == "missed"
    assert "skipped 1" in scans["source"] and "skipped is not a pass" in scans["source"]

    assert m["uptime"]["status"] == "unknown" and m["uptime"]["reason"].startswith("unreachable")
    assert m["deployment_frequency"]["value"] == 0.0 and m["lead_time"]["status"] == "unknown"
    assert "jenkins-token-456" not in out + err and "sq-token-123" not in out + err


@needs_fixtures
def test_refused_token_and_unconfigured_sources_are_unknown(cli, http_server, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sonar_url, _ = http_server(sonar_route("coverage"))
    monkeypatch.setenv("SONAR_TOKEN", "wrong")
    cfg = _config(tmp_path, f"  sonarqube: {{url: '{sonar_url}', project: p, token: {{env: SONAR_TOKEN}}}}\n")
    code, out, err = cli("-c", str(cfg), "metrics", "report", "--since", "7d", "-o", "json")
    assert code == 0, err
    m = _by_key(out)
    assert m["coverage"]["status"] == "unknown" and "credentials refused" in m["coverage"]["reason"]
    assert "401" in m["coverage"]["reason"]
    assert m["build_success_rate"]["reason"] == "not configured (metrics.jenkins)"
    assert m["uptime"]["reason"] == "not configured (metrics.prometheus)"
    assert m["scan_pass_rate"]["reason"] == "no scan recorded in the window"

    code, out, err = cli("-c", str(cfg), "metrics", "report", "--since", "7d", "-f", "markdown")
    assert code == 0 and "| Test coverage | unknown | > 80 % | unknown (SonarQube http" in out
    assert "credentials refused" in out
    code, out, err = cli("-c", str(cfg), "metrics", "report", "--since", "7d")
    assert code == 0 and "Test coverage" in out and "unknown" in out


def test_unreachable_jenkins_is_unknown(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = _config(tmp_path, f"  jenkins: {{url: 'http://127.0.0.1:{_closed_port()}', job: fish, timeout: 2s}}\n")
    code, out, err = cli("-c", str(cfg), "metrics", "report", "--since", "1d", "-o", "json")
    assert code == 0, err
    line = _by_key(out)["build_success_rate"]
    assert line["status"] == "unknown" and line["reason"].startswith("unreachable: Jenkins at http://127.0.0.1:")


@needs_fixtures
@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "file"])
def test_passwords_in_source_urls_never_reach_any_output(cli, http_server, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         fmt: str) -> None:
    jenkins_url, _ = http_server(jenkins_route(embed=True))
    sonar_url, _ = http_server(sonar_route("coverage"))
    with_password = lambda url, pw: url.replace("http://", f"http://reader:{pw}@")  # noqa: E731
    cfg = _config(tmp_path, (
        f"  prometheus: {{url: 'http://prom:PROM-PASSWORD-1@127.0.0.1:{_closed_port()}', timeout: 2s}}\n"
        f"  jenkins: {{url: '{with_password(jenkins_url, 'JENKINS-PASSWORD-2')}', job: fish, timeout: 5s}}\n"
        f"  sonarqube: {{url: '{with_password(sonar_url, 'SONAR-PASSWORD-3')}?token=SONAR-TOKEN-4', project: p}}\n"
    ))
    args = ["-c", str(cfg), "metrics", "report", "--since", "30d"]
    if fmt == "file":
        target = tmp_path / "report.md"
        code, out, err = cli(*args, "-f", "markdown", "--out", str(target))
        out += target.read_text()
    else:
        code, out, err = cli(*args, "-f", fmt)
    assert code == 0, err
    for secret in ("PROM-PASSWORD-1", "JENKINS-PASSWORD-2", "SONAR-PASSWORD-3", "SONAR-TOKEN-4"):
        assert secret not in out + err, (fmt, secret)
    assert "http://prom:***@127.0.0.1:" in out and "http://reader:***@127.0.0.1:" in out
